//! The monitored values of a chunk of JSON records, as columns.
//!
//! A `Schema` maps JSON key paths to columns of three kinds: numeric (f64, NaN = null or
//! missing), category (i32 codes into labels in order of first appearance, -1 = null or
//! missing) and the event time (f64, or text for ISO-8601 strings). A record is taken only
//! when every monitored value has the type the exact decoder would read it as; anything else
//! (a string in a numeric field, `NaN`, a repeated monitored key, a non-object parent, ...)
//! declines the whole chunk.

use crate::number::{finite, integer_label};
use crate::scan::{same, unescape, word, Cursor, Decline, Scan, Str};

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
    /// `"key":` as the record's bytes, when the key needs no escape in JSON (see `Pattern`).
    pattern: Option<Pattern>,
    slot: Slot,
}

/// Bytes to match at the cursor as they are: up to 16 as two words (the first eight and the
/// last eight, overlapping; for a pattern of at most 8 bytes the first word masked to its
/// length), longer ones as a slice.
struct Pattern {
    bytes: Box<[u8]>,
    first: u64,
    last: u64,
    mask: u64,
}

impl Pattern {
    fn new(bytes: Vec<u8>) -> Pattern {
        let n = bytes.len();
        let mut head = [0u8; 8];
        head[..n.min(8)].copy_from_slice(&bytes[..n.min(8)]);
        let mask = if n >= 8 { u64::MAX } else { u64::MAX >> (64 - 8 * n) };
        let last = if n >= 8 { word(&bytes, n - 8) } else { 0 };
        let first = u64::from_le_bytes(head);
        Pattern { bytes: bytes.into_boxed_slice(), first, last, mask }
    }

    /// Whether `b[i..]` starts with the pattern.
    #[inline(always)]
    fn at(&self, b: &[u8], i: usize) -> bool {
        let n = self.bytes.len();
        if n > 16 || i + 16 > b.len() {
            return b.get(i..i + n) == Some(&self.bytes[..]);
        }
        word(b, i) & self.mask == self.first && (n <= 8 || word(b, i + n - 8) == self.last)
    }
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

const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// The bytes of a label of at most 8 bytes in one word, without a copy: with the length, the
/// word determines the label (the loads overlap to cover every byte, as in `same`).
#[inline(always)]
fn small_word(x: &[u8]) -> u64 {
    let n = x.len();
    let half = |i: usize| u32::from_le_bytes(x[i..i + 4].try_into().unwrap()) as u64;
    match n {
        0 => 0,
        1..=3 => x[0] as u64 | (x[n / 2] as u64) << 8 | (x[n - 1] as u64) << 16,
        _ => half(0) | half(n - 4) << 32,
    }
}

/// A hash of a label, eight bytes at a time (use its high bits). For labels of at most 8
/// bytes it is one-to-one given the length: equal hash and length mean equal labels.
#[inline(always)]
fn label_hash(label: &[u8]) -> u64 {
    let mut h = (label.len() as u64).wrapping_mul(K);
    let mut rest = label;
    while rest.len() > 8 {
        h = (h ^ word(rest, 0)).wrapping_mul(K).rotate_left(29);
        rest = &rest[8..];
    }
    (h ^ small_word(rest)).wrapping_mul(K)
}

/// The codes of one category column's labels: open addressing over the codes (code + 1;
/// 0 = empty), each code's hash and length kept to compare before (or instead of) the label.
#[derive(Default)]
struct Interner {
    table: Vec<u32>,
    keys: Vec<(u64, usize)>,
}

impl Interner {
    #[inline]
    fn code(&mut self, labels: &mut Vec<String>, label: &[u8]) -> i32 {
        if self.keys.len() * 2 >= self.table.len() {
            self.grow();
        }
        let key = (label_hash(label), label.len());
        let mask = self.table.len() - 1;
        let mut i = (key.0 >> 32) as usize & mask;
        loop {
            let e = self.table[i] as usize;
            if e == 0 {
                break;
            }
            if self.keys[e - 1] == key && (key.1 <= 8 || same(labels[e - 1].as_bytes(), label)) {
                return e as i32 - 1;
            }
            i = (i + 1) & mask;
        }
        // the record was validated as UTF-8 and unescaping writes UTF-8
        labels.push(String::from_utf8_lossy(label).into_owned());
        self.keys.push(key);
        self.table[i] = self.keys.len() as u32;
        self.keys.len() as i32 - 1
    }

    fn grow(&mut self) {
        let size = (self.table.len() * 2).max(16);
        let mut table = vec![0u32; size];
        for (code, key) in self.keys.iter().enumerate() {
            let mut i = (key.0 >> 32) as usize & (size - 1);
            while table[i] != 0 {
                i = (i + 1) & (size - 1);
            }
            table[i] = code as u32 + 1;
        }
        self.table = table;
    }
}

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
                let plain = key.iter().all(|&c| c >= 0x20 && c != b'"' && c != b'\\');
                let pattern = plain.then(|| Pattern::new([b"\"", &key[..], b"\":"].concat()));
                entries.push(Entry { key: key.into_boxed_slice(), pattern, slot });
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
            if same(&self.entries[e as usize - 1].key, key) {
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
    pub fn sized(n_numeric: usize, n_category: usize, n: usize) -> Columns {
        Columns {
            n,
            numeric: vec![f64::NAN; n_numeric * n],
            codes: vec![-1; n_category * n],
            labels: vec![Vec::new(); n_category],
            interners: (0..n_category).map(|_| Interner::default()).collect(),
            time: vec![f64::NAN; n],
            time_text: Vec::new(),
        }
    }

    #[inline]
    pub fn intern(&mut self, col: usize, label: &[u8]) -> i32 {
        self.interners[col].code(&mut self.labels[col], label)
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
        if hint != NONE && same(&self.schema.entries[hint as usize].key, key) {
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
        if cur.peek() != Some(b'{') {
            return Err(Decline);
        }
        let mut more = !cur.open_empty(b'}');
        let mut prev = NONE;
        while more {
            cur.ws();
            let found = match self.predicted(cur, node, prev) {
                Some(e) => Some(e), // the key and the colon after it
                None => {
                    let found = self.key(cur, node, prev)?;
                    cur.ws();
                    cur.expect(b':')?;
                    found
                }
            };
            if let Some(e) = found {
                prev = e as u32;
            }
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
            more = cur.next_member(b'}')?;
        }
        Ok(())
    }

    /// The predicted entry when the record's next bytes are `"key":` with its key as it is
    /// (a span of valid UTF-8 without quote, backslash or control byte: a valid JSON string).
    #[inline(always)]
    fn predicted(&self, cur: &mut Cursor, node: usize, prev: u32) -> Option<usize> {
        let hint = if prev == NONE { self.first[node] } else { self.next[prev as usize] };
        if hint == NONE {
            return None;
        }
        let pattern = self.schema.entries[hint as usize].pattern.as_ref()?;
        if pattern.at(cur.b, cur.i) {
            cur.i += pattern.bytes.len();
            return Some(hint as usize);
        }
        None
    }

    /// The next key (a string) and its entry, if it is monitored at this level.
    fn key(&mut self, cur: &mut Cursor, node: usize, prev: u32) -> Scan<Option<usize>> {
        let key = cur.string()?;
        Ok(if key.escaped {
            let mut text = std::mem::take(&mut self.scratch);
            unescape(&cur.b[key.start..key.end], &mut text);
            let found = self.find(node, prev, &text);
            self.scratch = text;
            found
        } else {
            self.find(node, prev, &cur.b[key.start..key.end])
        })
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
