//! JSON numbers as the exact decoder reads them: floats correctly rounded, and the canonical
//! category labels of integers. Anything else declines (see `columns`).

use crate::scan::{Decline, Num, Scan};

#[inline(always)]
fn number_text(b: &[u8], num: Num) -> &str {
    // the span matched JSON's number grammar: ASCII only
    unsafe { std::str::from_utf8_unchecked(&b[num.start..num.end]) }
}

const POW10: [f64; 23] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12,
                          1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/// A numeric value as the exact decoder reads it (correctly rounded); out of range declines.
/// A mantissa below 2^53 with a power of ten up to 22 is exact in f64, so one multiplication
/// or division rounds correctly (Clinger's fast path); a longer mantissa over a power of ten
/// up to 27 is divided exactly in integers (`quotient`); other numbers take Rust's parser.
/// The integer `-0` declines: the exact decoder reads it as the int 0, i.e. +0.0, not -0.0.
#[inline(always)]
pub fn finite(b: &[u8], num: Num) -> Scan<f64> {
    if num.integer && num.negative && num.simple && num.mantissa == 0 {
        return Err(Decline);
    }
    if num.simple && (-27..=22).contains(&num.exp10) {
        let v = if num.mantissa > 1 << 53 {
            if num.exp10 > 0 {
                return parsed(b, num);
            }
            quotient(num.mantissa, (-num.exp10) as usize)
        } else if num.exp10 < -22 {
            return parsed(b, num);
        } else {
            let m = num.mantissa as f64;
            if num.exp10 >= 0 {
                m * POW10[num.exp10 as usize]
            } else {
                m / POW10[(-num.exp10) as usize]
            }
        };
        return Ok(f64::from_bits(v.to_bits() | (num.negative as u64) << 63)); // v >= 0
    }
    parsed(b, num)
}

fn parsed(b: &[u8], num: Num) -> Scan<f64> {
    let v: f64 = number_text(b, num).parse().map_err(|_| Decline)?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Decline)
    }
}

/// For e in 1..=27: `d = 5^e` (< 2^63), its bit length `b`, and `floor(2^(127+b) / d)` (a
/// reciprocal in [2^127, 2^128)), by long division at compile time (e = 0 is not used).
const POW5: [(u64, u32, u128); 28] = {
    let mut t = [(1u64, 1u32, 0u128); 28];
    let mut e = 1;
    while e < 28 {
        let d = t[e - 1].0 * 5;
        let b = 64 - d.leading_zeros();
        let (mut q, mut r, mut bit) = (0u128, 0u128, 127 + b as i32);
        while bit >= 0 {
            r = 2 * r + if bit == 127 + b as i32 { 1 } else { 0 };
            q <<= 1;
            if r >= d as u128 {
                r -= d as u128;
                q |= 1;
            }
            bit -= 1;
        }
        t[e] = (d, b, q);
        e += 1;
    }
    t
};

/// `m / 10^e` correctly rounded (to nearest, ties to even), for `2^53 < m < 2^60`, `e <= 27`.
///
/// With `d = 5^e`, `m / 10^e = (m * 2^s / d) * 2^(-s-e)`; `s` is chosen so that the quotient
/// `q = floor(m * 2^s / d)` lies in [2^62, 2^64). The reciprocal gives `q` or `q - 1` (its
/// error is below 2^-64), and the exact remainder `r = m * 2^s - q * d` corrects it. The
/// 53 leading bits of `q` are the truncated significand; the bits below them and `r` decide
/// the rounding exactly: above half rounds up, below down, exactly half (lower bits 100..0
/// and `r = 0`) to even. The result, at least 2^53 / 10^27, is a normal float: scaling by a
/// power of two is exact.
#[inline]
fn quotient(m: u64, e: usize) -> f64 {
    if e == 0 {
        return m as f64; // correctly rounded conversion
    }
    let (d, b, inv) = POW5[e];
    let a = 64 - m.leading_zeros();
    let s = 63 - a + b;
    // (m * inv) >> (64 + a), from the two 64x64-bit products
    let low = m as u128 * (inv as u64) as u128;
    let high = m as u128 * (inv >> 64) + (low >> 64);
    let mut q = (high >> a) as u64;
    let mut r = ((m as u128) << s) - q as u128 * d as u128;
    if r >= d as u128 {
        q += 1;
        r -= d as u128;
    }
    let shift = 64 - q.leading_zeros() - 53; // 10 or 11
    let mut sig = q >> shift;
    let rest = q & ((1 << shift) - 1);
    let half = 1 << (shift - 1);
    let scale = shift as i64 - s as i64 - e as i64;
    // without branches (the direction is as good as random): up when above half, or at half
    // with a remainder or an odd significand; rounding up to 2^53 is 2^52 at the next power
    let up = (rest > half) | ((rest == half) & ((r != 0) | (sig & 1 == 1)));
    sig += up as u64;
    let carry = sig >> 53;
    sig >>= carry;
    // sig * 2^scale, sig in [2^52, 2^53): the biased exponent and the 52 bits below the top
    f64::from_bits(((scale + carry as i64 + 52 + 1023) as u64) << 52 | (sig & ((1 << 52) - 1)))
}

/// The canonical category label of a JSON number: integers (and integral floats below 2^63)
/// print as integers; any other number declines.
pub fn integer_label(b: &[u8], num: Num) -> Scan<String> {
    if num.integer {
        if num.end - num.start > 18 {
            return Err(Decline);
        }
        let v: i64 = number_text(b, num).parse().map_err(|_| Decline)?;
        return Ok(v.to_string());
    }
    let v = finite(b, num)?;
    if v.trunc() == v && v.abs() < 9.223_372_036_854_776e18 {
        Ok((v as i64).to_string())
    } else {
        Err(Decline)
    }
}
