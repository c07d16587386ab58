//! The monitored values of a chunk of JSON records, as columns.
//!
//! A `Schema` maps JSON key paths to columns of three kinds: numeric (f64, NaN = null or
//! missing), category (i32 codes into labels in order of first appearance, -1 = null or
//! missing) and the event time (f64, or text for ISO-8601 strings). A record is taken only
//! when every monitored value has the type the exact decoder would read it as; anything else
//! (a string in a numeric field, `NaN`, a repeated monitored key, a non-object parent, ...)
//! declines the whole chunk.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::scan::{unescape, Cursor, Decline, Num, Scan, Str};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Numeric,
    Category,
    Time,
}

#[derive(Clone, Copy)]
enum Slot {
    Leaf(Kind, usize),
    Parent(usize),
}

struct Entry {
    key: Box<[u8]>,
    slot: Slot,
}

/// An open-addressing table of one object level's keys (entry index + 1; 0 = empty).
struct Node {
    table: Vec<u32>,
}

pub struct Schema {
    entries: Vec<Entry>,
    nodes: Vec<Node>,
    pub n_numeric: usize,
    pub n_category: usize,
}

#[inline(always)]
fn fnv(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in key {
        h = (h ^ c as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[derive(Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = fnv(bytes) ^ self.0.rotate_left(5);
    }
}

type Interner = HashMap<Box<[u8]>, i32, BuildHasherDefault<Fnv>>;

impl Schema {
    /// Leaves in column order: (kind, JSON keys). Two leaves may not share a path, and a
    /// leaf may not be the parent of another.
    pub fn new(leaves: &[(Kind, Vec<Vec<u8>>)]) -> Result<Schema, String> {
        let mut tree: Vec<Vec<(Vec<u8>, Slot)>> = vec![Vec::new()];
        let (mut n_numeric, mut n_category, mut n_time) = (0, 0, 0);
        for (kind, keys) in leaves {
            if keys.is_empty() {
                return Err("a leaf without keys".into());
            }
            let mut node = 0;
            for key in &keys[..keys.len() - 1] {
                let found = tree[node].iter().find(|(k, _)| k == key).map(|(_, s)| *s);
                node = match found {
                    Some(Slot::Parent(child)) => child,
                    Some(Slot::Leaf(..)) => return Err("a leaf is also a parent".into()),
                    None => {
                        tree.push(Vec::new());
                        let child = tree.len() - 1;
                        tree[node].push((key.clone(), Slot::Parent(child)));
                        child
                    }
                };
            }
            let last = keys[keys.len() - 1].clone();
            if tree[node].iter().any(|(k, _)| *k == last) {
                return Err("a path is used twice".into());
            }
            let col = match kind {
                Kind::Numeric => {
                    n_numeric += 1;
                    n_numeric - 1
                }
                Kind::Category => {
                    n_category += 1;
                    n_category - 1
                }
                Kind::Time => {
                    n_time += 1;
                    0
                }
            };
            if n_time > 1 {
                return Err("more than one event-time leaf".into());
            }
            tree[node].push((last, Slot::Leaf(*kind, col)));
        }
        let mut entries = Vec::new();
        let mut nodes = Vec::new();
        for level in tree {
            let size = (level.len() * 4).next_power_of_two().max(8);
            let mut table = vec![0u32; size];
            for (key, slot) in level {
                let mut i = fnv(&key) as usize & (size - 1);
                while table[i] != 0 {
                    i = (i + 1) & (size - 1);
                }
                entries.push(Entry { key: key.into_boxed_slice(), slot });
                table[i] = entries.len() as u32;
            }
            nodes.push(Node { table });
        }
        Ok(Schema { entries, nodes, n_numeric, n_category })
    }

    #[inline(always)]
    fn lookup(&self, node: usize, key: &[u8]) -> Option<usize> {
        let table = &self.nodes[node].table;
        let mask = table.len() - 1;
        let mut i = fnv(key) as usize & mask;
        loop {
            let e = table[i];
            if e == 0 {
                return None;
            }
            if &*self.entries[e as usize - 1].key == key {
                return Some(e as usize - 1);
            }
            i = (i + 1) & mask;
        }
    }
}

/// The columns of one chunk of `n` records.
pub struct Columns {
    pub n: usize,
    pub numeric: Vec<f64>,
    pub codes: Vec<i32>,
    pub labels: Vec<Vec<String>>,
    interners: Vec<Interner>,
    pub time: Vec<f64>,
    /// (row, text) of event times given as strings (their `time` stays NaN).
    pub time_text: Vec<(usize, String)>,
}

impl Columns {
    pub fn new(schema: &Schema, n: usize) -> Columns {
        Columns {
            n,
            numeric: vec![f64::NAN; schema.n_numeric * n],
            codes: vec![-1; schema.n_category * n],
            labels: vec![Vec::new(); schema.n_category],
            interners: (0..schema.n_category).map(|_| Interner::default()).collect(),
            time: vec![f64::NAN; n],
            time_text: Vec::new(),
        }
    }

    #[inline]
    fn intern(&mut self, col: usize, label: &[u8]) -> i32 {
        if let Some(&code) = self.interners[col].get(label) {
            return code;
        }
        let code = self.labels[col].len() as i32;
        // the record was validated as UTF-8 and unescaping writes UTF-8
        self.labels[col].push(String::from_utf8_lossy(label).into_owned());
        self.interners[col].insert(label.into(), code);
        code
    }
}

/// Reads records into `Columns`; keeps the scratch state between records.
pub struct Reader {
    pub schema: Schema,
    seen: Vec<u32>,
    stamp: u32,
    scratch: Vec<u8>,
    /// Producers write keys in a stable order: the entry that came first in each object
    /// level, and the one that followed each entry, last time (checked before hashing).
    first: Vec<u32>,
    next: Vec<u32>,
}

const NONE: u32 = u32::MAX;

impl Reader {
    pub fn new(schema: Schema) -> Reader {
        let seen = vec![0; schema.entries.len()];
        let first = vec![NONE; schema.nodes.len()];
        let next = vec![NONE; schema.entries.len()];
        Reader { schema, seen, stamp: 0, scratch: Vec::new(), first, next }
    }

    /// The entry of `key` in `node`, trying the predicted one first; records the prediction.
    #[inline(always)]
    fn find(&mut self, node: usize, prev: u32, key: &[u8]) -> Option<usize> {
        let hint = if prev == NONE { self.first[node] } else { self.next[prev as usize] };
        if hint != NONE && *self.schema.entries[hint as usize].key == *key {
            return Some(hint as usize);
        }
        let found = self.schema.lookup(node, key)?;
        if prev == NONE {
            self.first[node] = found as u32;
        } else {
            self.next[prev as usize] = found as u32;
        }
        Some(found)
    }

    /// Read record `row` (one JSON object) into `cols`, or decline.
    pub fn read(&mut self, rec: &[u8], row: usize, cols: &mut Columns) -> Scan<()> {
        // UTF-8 is validated string by string (Cursor::string): elsewhere only ASCII parses
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.seen.iter_mut().for_each(|s| *s = 0);
            self.stamp = 1;
        }
        let mut cur = Cursor::new(rec);
        cur.ws();
        self.object(&mut cur, 0, 1, row, cols)?;
        cur.ws();
        if cur.i != rec.len() {
            return Err(Decline);
        }
        Ok(())
    }

    fn object(&mut self, cur: &mut Cursor, node: usize, depth: usize, row: usize,
              cols: &mut Columns) -> Scan<()> {
        cur.expect(b'{')?;
        cur.ws();
        if cur.peek() == Some(b'}') {
            cur.i += 1;
            return Ok(());
        }
        let mut prev = NONE;
        loop {
            cur.ws();
            let key = cur.string()?;
            let found = if key.escaped {
                let mut text = std::mem::take(&mut self.scratch);
                unescape(&cur.b[key.start..key.end], &mut text);
                let found = self.find(node, prev, &text);
                self.scratch = text;
                found
            } else {
                self.find(node, prev, &cur.b[key.start..key.end])
            };
            if let Some(e) = found {
                prev = e as u32;
            }
            cur.ws();
            cur.expect(b':')?;
            cur.ws();
            match found {
                None => cur.skip_value(depth)?,
                Some(e) => {
                    if self.seen[e] == self.stamp {
                        return Err(Decline); // a repeated monitored key
                    }
                    self.seen[e] = self.stamp;
                    match self.schema.entries[e].slot {
                        Slot::Parent(child) => {
                            if depth >= crate::scan::MAX_DEPTH {
                                return Err(Decline);
                            }
                            self.object(cur, child, depth + 1, row, cols)?
                        }
                        Slot::Leaf(kind, col) => self.leaf(cur, kind, col, row, cols)?,
                    }
                }
            }
            cur.ws();
            match cur.peek() {
                Some(b',') => cur.i += 1,
                Some(b'}') => {
                    cur.i += 1;
                    return Ok(());
                }
                _ => return Err(Decline),
            }
        }
    }

    #[inline]
    fn leaf(&mut self, cur: &mut Cursor, kind: Kind, col: usize, row: usize,
            cols: &mut Columns) -> Scan<()> {
        let c = cur.peek().ok_or(Decline)?;
        if c == b'n' {
            return cur.literal(b"null"); // the column's default already means null
        }
        match kind {
            Kind::Numeric => {
                let num = cur.number()?;
                cols.numeric[col * cols.n + row] = finite(cur.b, num)?;
            }
            Kind::Time => {
                if c == b'"' {
                    let s = cur.string()?;
                    let text = self.text(cur.b, s);
                    cols.time_text.push((row, String::from_utf8_lossy(text).into_owned()));
                } else {
                    let num = cur.number()?;
                    cols.time[row] = finite(cur.b, num)?;
                }
            }
            Kind::Category => {
                let code = match c {
                    b'"' => {
                        let s = cur.string()?;
                        let text = if s.escaped {
                            unescape(&cur.b[s.start..s.end], &mut self.scratch);
                            &self.scratch[..]
                        } else {
                            &cur.b[s.start..s.end]
                        };
                        cols.intern(col, text)
                    }
                    b't' => {
                        cur.literal(b"true")?;
                        cols.intern(col, b"true")
                    }
                    b'f' => {
                        cur.literal(b"false")?;
                        cols.intern(col, b"false")
                    }
                    _ => {
                        let num = cur.number()?;
                        let label = integer_label(cur.b, num)?;
                        cols.intern(col, label.as_bytes())
                    }
                };
                cols.codes[col * cols.n + row] = code;
            }
        }
        Ok(())
    }

    fn text<'b>(&'b mut self, b: &'b [u8], s: Str) -> &'b [u8] {
        if s.escaped {
            unescape(&b[s.start..s.end], &mut self.scratch);
            &self.scratch[..]
        } else {
            &b[s.start..s.end]
        }
    }
}

#[inline(always)]
fn number_text(b: &[u8], num: Num) -> &str {
    // the span matched JSON's number grammar: ASCII only
    unsafe { std::str::from_utf8_unchecked(&b[num.start..num.end]) }
}

const POW10: [f64; 23] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12,
                          1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/// A numeric value as the exact decoder reads it (correctly rounded); out of range declines.
/// A mantissa below 2^53 with a power of ten up to 22 is exact in f64, so one multiplication
/// or division rounds correctly (Clinger's fast path); other numbers take Rust's parser.
/// The integer `-0` declines: the exact decoder reads it as the int 0, i.e. +0.0, not -0.0.
#[inline(always)]
fn finite(b: &[u8], num: Num) -> Scan<f64> {
    if num.integer && num.negative && num.simple && num.mantissa == 0 {
        return Err(Decline);
    }
    if num.simple && num.mantissa <= 1 << 53 && (-22..=22).contains(&num.exp10) {
        let m = num.mantissa as f64;
        let v = if num.exp10 >= 0 {
            m * POW10[num.exp10 as usize]
        } else {
            m / POW10[(-num.exp10) as usize]
        };
        return Ok(if num.negative { -v } else { v });
    }
    let v: f64 = number_text(b, num).parse().map_err(|_| Decline)?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Decline)
    }
}

/// The canonical category label of a JSON number: integers (and integral floats below 2^63)
/// print as integers; any other number declines.
fn integer_label(b: &[u8], num: Num) -> Scan<String> {
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
