//! Structural validation of a serialized datasketches KLL (doubles) sketch: the same checks,
//! in the same order and with the same reasons, as `sketches/kll_guard.py`'s Python path.

const FAMILY_KLL: u8 = 15;
const FLAG_EMPTY: u8 = 1;
const FLAG_SINGLE: u8 = 4;
const MAX_LEVELS: usize = 61;

fn cap_aux_aux(k: u128, depth: u32) -> u128 {
    let twok = k << 1;
    let tmp = (twok << depth) / 3u128.pow(depth);
    (tmp + 1) >> 1
}

fn cap_aux(k: u128, depth: u32) -> u128 {
    if depth <= 30 {
        return cap_aux_aux(k, depth);
    }
    let half = depth / 2;
    cap_aux_aux(cap_aux_aux(k, half), depth - half)
}

/// Items a KLL with `num_levels` levels can hold (datasketches' compute_total_capacity).
fn total_capacity(k: u128, m: u128, num_levels: usize) -> u128 {
    (0..num_levels).map(|h| m.max(cap_aux(k, (num_levels - h - 1) as u32))).sum()
}

fn u16_at(raw: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([raw[at], raw[at + 1]])
}

fn u32_at(raw: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(raw[at..at + 4].try_into().unwrap())
}

fn u64_at(raw: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(raw[at..at + 8].try_into().unwrap())
}

fn f64_at(raw: &[u8], at: usize) -> f64 {
    f64::from_le_bytes(raw[at..at + 8].try_into().unwrap())
}

/// None when `raw` is a well-formed KLL doubles sketch with parameter `k`, else the reason.
pub fn check(raw: &[u8], k: u64) -> Option<String> {
    if raw.len() < 8 {
        return Some("header truncated".into());
    }
    let (version, family, flags, got_k, m) = (raw[1], raw[2], raw[3], u16_at(raw, 4), raw[6]);
    if family != FAMILY_KLL || !(version == 1 || version == 2) {
        return Some(format!("family/version {family}/{version}"));
    }
    if got_k as u64 != k || m != 8 {
        return Some(format!("parameters k={got_k} m={m}, expected k={k} m=8"));
    }
    if flags & FLAG_EMPTY != 0 {
        return (raw.len() != 8).then(|| "empty sketch with trailing bytes".into());
    }
    if flags & FLAG_SINGLE != 0 {
        return (raw.len() != 16 || !f64_at(raw, 8).is_finite())
            .then(|| "single-item layout".into());
    }
    if raw.len() < 20 {
        return Some("preamble truncated".into());
    }
    let (n, num_levels) = (u64_at(raw, 8), raw[18] as usize);
    if !(1..=MAX_LEVELS).contains(&num_levels) {
        return Some(format!("level count {num_levels}"));
    }
    let off = 20 + 4 * num_levels;
    let rest = raw.len() as i64 - off as i64 - 16;
    if rest < 8 || rest % 8 != 0 {
        return Some("item array length".into());
    }
    let retained = (rest / 8) as u128;
    let capacity = total_capacity(k as u128, m as u128, num_levels);
    let levels: Vec<u128> = (0..num_levels).map(|h| u32_at(raw, 20 + 4 * h) as u128).collect();
    if levels[0] + retained != capacity {
        return Some("level offsets do not match the item count".into());
    }
    let mut weight: u128 = 0;
    for h in 0..num_levels {
        let next = if h + 1 < num_levels { levels[h + 1] } else { capacity };
        if next < levels[h] {
            return Some("level offsets not increasing".into());
        }
        weight += (next - levels[h]) << h;
    }
    if weight != n as u128 {
        return Some(format!("weighted item count {weight} != n {n}"));
    }
    let (lo, hi) = (f64_at(raw, off), f64_at(raw, off + 8));
    if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
        return Some("min/max".into());
    }
    let items = &raw[off + 16..];
    if items.chunks_exact(8).any(|b| {
        let x = f64::from_le_bytes(b.try_into().unwrap());
        !(x >= lo && x <= hi)
    }) {
        return Some("items outside [min, max]".into());
    }
    None
}
