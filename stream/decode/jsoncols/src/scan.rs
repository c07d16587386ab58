//! A strict JSON scanner over one record (RFC 8259, valid UTF-8, no lone surrogates).
//!
//! It validates everything it passes over and hands out byte spans; it never allocates.
//! Anything it cannot vouch for is a `Decline`: the caller then decodes the chunk the exact
//! way, which also finds the reason a record is bad.

/// The scanner cannot vouch for this input (invalid, unusual or ambiguous): decode exactly.
#[derive(Debug)]
pub struct Decline;

pub type Scan<T> = Result<T, Decline>;

/// Nesting deeper than this is declined (the exact path decides such records).
pub const MAX_DEPTH: usize = 64;

/// A string's content span (without quotes) and whether it holds escapes.
#[derive(Clone, Copy)]
pub struct Str {
    pub start: usize,
    pub end: usize,
    pub escaped: bool,
}

/// A number's span, whether it is a plain integer (no fraction, no exponent), and its
/// decimal mantissa and exponent when the mantissa fits 18 digits (`simple`; below 10^18).
#[derive(Clone, Copy)]
pub struct Num {
    pub start: usize,
    pub end: usize,
    pub integer: bool,
    pub negative: bool,
    pub simple: bool,
    pub mantissa: u64,
    pub exp10: i64,
}

pub struct Cursor<'a> {
    pub b: &'a [u8],
    pub i: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Cursor { b, i: 0 }
    }

    #[inline(always)]
    pub fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline(always)]
    pub fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if c > b' ' {
                break; // most often: compact JSON
            }
            if c == b' ' || c == b'\n' || c == b'\t' || c == b'\r' {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    #[inline(always)]
    pub fn expect(&mut self, c: u8) -> Scan<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(Decline)
        }
    }

    #[inline]
    pub fn literal(&mut self, word: &[u8]) -> Scan<()> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(Decline)
        }
    }

    /// A string starting at the opening quote: eight bytes at a time up to the next quote,
    /// backslash or control byte, then one byte at a time.
    #[inline]
    pub fn string(&mut self) -> Scan<Str> {
        self.expect(b'"')?;
        let start = self.i;
        let mut escaped = false;
        let mut ascii = true;
        loop {
            while self.i + 8 <= self.b.len() {
                let w = word(self.b, self.i);
                let hit = specials(w);
                if hit != 0 {
                    let k = hit.trailing_zeros() / 8; // the first special byte
                    ascii &= w & HIGHS & !(u64::MAX << (8 * k)) == 0;
                    self.i += k as usize;
                    break;
                }
                ascii &= w & HIGHS == 0;
                self.i += 8;
            }
            let c = *self.b.get(self.i).ok_or(Decline)?;
            if c == b'"' {
                let s = Str { start, end: self.i, escaped };
                self.i += 1;
                // outside strings only ASCII passes the grammar: validate UTF-8 here
                if !ascii && std::str::from_utf8(&self.b[start..s.end]).is_err() {
                    return Err(Decline);
                }
                return Ok(s);
            }
            if c < 0x20 {
                return Err(Decline);
            }
            if c == b'\\' {
                escaped = true;
                self.escape()?;
            } else {
                ascii &= c < 0x80;
                self.i += 1;
            }
        }
    }

    /// One escape sequence at the backslash; a surrogate must come as a valid pair.
    fn escape(&mut self) -> Scan<()> {
        let c = *self.b.get(self.i + 1).ok_or(Decline)?;
        match c {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                self.i += 2;
                Ok(())
            }
            b'u' => {
                let unit = hex4(self.b, self.i + 2)?;
                self.i += 6;
                if (0xDC00..0xE000).contains(&unit) {
                    return Err(Decline);
                }
                if (0xD800..0xDC00).contains(&unit) {
                    if self.b.get(self.i) != Some(&b'\\') || self.b.get(self.i + 1) != Some(&b'u') {
                        return Err(Decline);
                    }
                    let low = hex4(self.b, self.i + 2)?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err(Decline);
                    }
                    self.i += 6;
                }
                Ok(())
            }
            _ => Err(Decline),
        }
    }

    /// A number in JSON's grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    #[inline]
    pub fn number(&mut self) -> Scan<Num> {
        let start = self.i;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.i += 1;
        }
        let mut m: u64 = 0;
        let mut simple = true;
        let mut exp10: i64 = 0;
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(&mut m, &mut simple),
            _ => return Err(Decline),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.i += 1;
            let at = self.i;
            self.digits(&mut m, &mut simple);
            if self.i == at {
                return Err(Decline);
            }
            exp10 = at as i64 - self.i as i64; // (only used while every digit is in m)
            integer = false;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            let neg_exp = match self.peek() {
                Some(b'-') => {
                    self.i += 1;
                    true
                }
                Some(b'+') => {
                    self.i += 1;
                    false
                }
                _ => false,
            };
            let at = self.i;
            let mut e: i64 = 0;
            while let Some(d @ b'0'..=b'9') = self.peek() {
                e = (e * 10 + (d - b'0') as i64).min(1 << 40);
                self.i += 1;
            }
            if self.i == at {
                return Err(Decline);
            }
            exp10 += if neg_exp { -e } else { e };
            integer = false;
        }
        Ok(Num { start, end: self.i, integer, negative, simple, mantissa: m, exp10 })
    }

    /// Digits into the mantissa; a mantissa past 18 digits is no longer `simple` (the digits
    /// after that are not in it). Eight digits at a time while they fit.
    #[inline(always)]
    fn digits(&mut self, m: &mut u64, simple: &mut bool) {
        while *m < 10_000_000_000 && self.i + 8 <= self.b.len() {
            let w = word(self.b, self.i);
            if digit_run(w) < 8 {
                break;
            }
            *m = *m * 100_000_000 + parse_eight(w);
            self.i += 8;
        }
        while let Some(d @ b'0'..=b'9') = self.peek() {
            if *m < 1_000_000_000_000_000_000 / 10 {
                *m = *m * 10 + (d - b'0') as u64;
            } else {
                *simple = false;
            }
            self.i += 1;
        }
    }

    /// At `{` or `[`: step in; true when the container is empty (its `close` consumed too).
    #[inline(always)]
    pub fn open_empty(&mut self, close: u8) -> bool {
        self.i += 1;
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
            return true;
        }
        false
    }

    /// After a member: true when a `,` announces another, false when `close` ends the
    /// container (consumed); anything else declines.
    #[inline(always)]
    pub fn next_member(&mut self, close: u8) -> Scan<bool> {
        self.ws();
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                Ok(true)
            }
            Some(c) if c == close => {
                self.i += 1;
                Ok(false)
            }
            _ => Err(Decline),
        }
    }

    /// Pass over (and validate) any value.
    pub fn skip_value(&mut self, depth: usize) -> Scan<()> {
        if depth > MAX_DEPTH {
            return Err(Decline);
        }
        match self.peek().ok_or(Decline)? {
            b'"' => self.string().map(|_| ()),
            b'{' => {
                let mut more = !self.open_empty(b'}');
                while more {
                    self.ws();
                    self.string()?;
                    self.ws();
                    self.expect(b':')?;
                    self.ws();
                    self.skip_value(depth + 1)?;
                    more = self.next_member(b'}')?;
                }
                Ok(())
            }
            b'[' => {
                let mut more = !self.open_empty(b']');
                while more {
                    self.ws();
                    self.skip_value(depth + 1)?;
                    more = self.next_member(b']')?;
                }
                Ok(())
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number().map(|_| ()),
            _ => Err(Decline),
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Eight bytes at `i` as one little-endian word (the first byte lowest).
#[inline(always)]
pub fn word(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().unwrap())
}

/// The high bit of each byte of `w` that is a quote, a backslash or below 0x20. A borrow can
/// also mark bytes above a marked one, so only the lowest mark is exact (all we use).
#[inline(always)]
fn specials(w: u64) -> u64 {
    let quote = w ^ (ONES * b'"' as u64);
    let slash = w ^ (ONES * b'\\' as u64);
    let zero = |x: u64| x.wrapping_sub(ONES) & !x;
    (zero(quote) | zero(slash) | (w.wrapping_sub(ONES * 0x20) & !w)) & HIGHS
}

/// How many of the bytes of `w`, from the first, are ASCII digits (0..=8). A carry or borrow
/// only reaches bytes above a non-digit one, so the first non-digit is found exactly.
#[inline(always)]
fn digit_run(w: u64) -> usize {
    let other = (w.wrapping_add(ONES * 0x46) | w.wrapping_sub(ONES * 0x30)) & HIGHS;
    (other.trailing_zeros() / 8) as usize
}

/// The value of eight ASCII digits (the first one most significant), in three multiplications.
#[inline(always)]
fn parse_eight(w: u64) -> u64 {
    let w = (w & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(2561) >> 8;
    let w = (w & 0x00FF_00FF_00FF_00FF).wrapping_mul(6_553_601) >> 16;
    (w & 0x0000_FFFF_0000_FFFF).wrapping_mul(42_949_672_960_001) >> 32
}

/// Byte-string equality without a call (keys and labels are short): two overlapping words,
/// or two overlapping halves of one, cover up to 16 bytes.
#[inline(always)]
pub fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let half = |x: &[u8], i: usize| u32::from_le_bytes(x[i..i + 4].try_into().unwrap());
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

fn hex4(b: &[u8], at: usize) -> Scan<u32> {
    let digits = b.get(at..at + 4).ok_or(Decline)?;
    let mut v = 0u32;
    for &d in digits {
        let x = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return Err(Decline),
        };
        v = v * 16 + x as u32;
    }
    Ok(v)
}

/// The text of an escaped string span (already validated by `Cursor::string`) into `out`.
pub fn unescape(src: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = src[i + 1];
        i += 2;
        let simple = match e {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0C,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            _ => 0,
        };
        if e != b'u' {
            out.push(simple);
            continue;
        }
        let mut cp = hex4(src, i).unwrap_or(0xFFFD);
        i += 4;
        if (0xD800..0xDC00).contains(&cp) {
            let low = hex4(src, i + 2).unwrap_or(0xDC00);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            i += 6;
        }
        let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
}
