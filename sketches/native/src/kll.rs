//! A serialized datasketches KLL (doubles) sketch: its structural validation (`check`: the
//! same checks, in the same order and with the same reasons, as `sketches/kll_guard.py`'s
//! Python path) and its inclusive quantiles (`quantiles`: as datasketches computes them).

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

/// The level count of a sketch in the general layout (neither empty nor single-item) and the
/// offset of its items, after the level offsets, min and max; the reason when the preamble, the
/// level count or the length of the item array (at least one item) does not fit.
fn general_layout(raw: &[u8]) -> Result<(usize, usize), String> {
    if raw.len() < 20 {
        return Err("preamble truncated".into());
    }
    let num_levels = raw[18] as usize;
    if !(1..=MAX_LEVELS).contains(&num_levels) {
        return Err(format!("level count {num_levels}"));
    }
    let off = 20 + 4 * num_levels + 16;
    if raw.len() < off + 8 || !(raw.len() - off).is_multiple_of(8) {
        return Err("item array length".into());
    }
    Ok((num_levels, off))
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
    let (num_levels, items_at) = match general_layout(raw) {
        Ok(layout) => layout,
        Err(reason) => return Some(reason),
    };
    let n = u64_at(raw, 8);
    let retained = ((raw.len() - items_at) / 8) as u128;
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
    let (lo, hi) = (f64_at(raw, items_at - 16), f64_at(raw, items_at - 8));
    if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
        return Some("min/max".into());
    }
    let items = &raw[items_at..];
    if items.chunks_exact(8).any(|b| {
        let x = f64::from_le_bytes(b.try_into().unwrap());
        !(x >= lo && x <= hi)
    }) {
        return Some("items outside [min, max]".into());
    }
    None
}

/// An integer key of a (non-NaN) double with the same order, -0.0 just below +0.0.
fn order_key(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 { !bits } else { bits | 1 << 63 }
}

fn from_order_key(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 { key & !(1 << 63) } else { !key })
}

/// Buffers reused by successive `quantiles` calls.
#[derive(Default)]
pub struct Scratch {
    keys: Vec<u64>,
    view: Vec<(u64, u64)>,
}

/// The inclusive quantiles of the serialized (well-formed) sketch `raw` at `levels` (each in
/// [0, 1]) into `out`, as datasketches' `get_quantiles(levels, True)` computes them: the
/// retained items sorted, with cumulative weights 2**level; the quantile at rank q is the
/// first item whose cumulative weight reaches ceil(q * W), W the total weight, or the last
/// item. NaN for an empty sketch. Equal items are the same double, except -0.0 and +0.0:
/// datasketches orders those by its sort of level 0 (`std::sort`, unspecified order of equal
/// items) and then by level, so when an answer is a zero and the sketch holds both, this
/// returns Ok(false) and the caller asks datasketches. An error for bytes that are not a KLL
/// doubles layout; never a panic.
pub fn quantiles(raw: &[u8], levels: &[f64], out: &mut [f64], scratch: &mut Scratch)
                 -> Result<bool, String> {
    if raw.len() < 8 {
        return Err("header truncated".into());
    }
    let (family, flags) = (raw[2], raw[3]);
    if family != FAMILY_KLL {
        return Err(format!("family {family}"));
    }
    if flags & FLAG_EMPTY != 0 {
        out.fill(f64::NAN);
        return Ok(true);
    }
    if flags & FLAG_SINGLE != 0 {
        if raw.len() < 16 {
            return Err("single-item layout".into());
        }
        out.fill(f64_at(raw, 8));
        return Ok(true);
    }
    let (num_levels, off) = general_layout(raw)?;
    let n = (raw.len() - off) / 8; // retained items
    let items = raw[off..].chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap()));
    if items.clone().any(f64::is_nan) {
        return Err("NaN item".into());
    }
    if num_levels == 1 {
        // exact mode, every weight 1: the ceil(q * W)-th smallest item
        let keys = &mut scratch.keys;
        keys.clear();
        keys.extend(items.clone().map(order_key));
        keys.sort_unstable();
        for (o, &q) in out.iter_mut().zip(levels) {
            *o = from_order_key(keys[((q * n as f64).ceil() as usize).clamp(1, n) - 1]);
        }
    } else {
        // level h is items[levels[h] - levels[0]..levels[h + 1] - levels[0]], the last offset
        // implied by the length
        let first = u32_at(raw, 20) as usize;
        let view = &mut scratch.view;
        view.clear();
        let mut rest = items.clone();
        for h in 0..num_levels {
            let end = if h + 1 < num_levels {
                (u32_at(raw, 24 + 4 * h) as usize).wrapping_sub(first)
            } else {
                n
            };
            if end > n || end < view.len() {
                return Err("level offsets not increasing".into());
            }
            let weight = 1u64 << h;
            view.extend(rest.by_ref().take(end - view.len()).map(|x| (order_key(x), weight)));
        }
        view.sort_by_key(|e| e.0); // stable: finds the sorted runs of the levels above 0
        let mut total: u64 = 0;
        for entry in view.iter_mut() {
            total = total.checked_add(entry.1).ok_or("weight overflow")?;
            entry.1 = total;
        }
        for (o, &q) in out.iter_mut().zip(levels) {
            let target = (q * total as f64).ceil() as u64;
            let at = view.partition_point(|e| e.1 < target).min(n - 1);
            *o = from_order_key(view[at].0);
        }
    }
    if out.contains(&0.0) {
        let (mut neg, mut pos) = (false, false);
        for z in items.filter(|&x| x == 0.0) {
            neg |= z.is_sign_negative();
            pos |= z.is_sign_positive();
        }
        return Ok(!(neg && pos));
    }
    Ok(true)
}
