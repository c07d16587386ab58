//! Avro binary records to the same columns as JSON records, in one pass.
//!
//! The writer schema comes compiled by `stream/decode_avro_native.py` into a table of nodes
//! (`Op`), each with the columns it feeds. Reading walks a record's bytes along the schema,
//! skipping what no column needs and writing monitored values straight into `Columns`. A
//! record is taken only when it is read to its last byte without surprise; anything else
//! (truncated, a bad union branch, invalid UTF-8 in a category, NaN or infinity in a numeric
//! value or event time, trailing bytes) declines the whole chunk, which the caller then
//! decodes the exact way (fastavro), where each bad record gets its reason.

use crate::columns::{Columns, Kind};
use crate::scan::{Decline, Scan};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    Null,
    Boolean,
    Int,
    Float,
    Double,
    Bytes,
    Str,
    Fixed,
    Enum,
    Array,
    Map,
    Union,
    Record,
}

impl Op {
    pub fn parse(name: &str) -> Option<Op> {
        Some(match name {
            "null" => Op::Null,
            "boolean" => Op::Boolean,
            "int" | "long" => Op::Int,
            "float" => Op::Float,
            "double" => Op::Double,
            "bytes" => Op::Bytes,
            "string" => Op::Str,
            "fixed" => Op::Fixed,
            "enum" => Op::Enum,
            "array" => Op::Array,
            "map" => Op::Map,
            "union" => Op::Union,
            "record" => Op::Record,
            _ => return None,
        })
    }
}

pub struct Node {
    pub op: Op,
    /// Fixed: the size.
    pub size: usize,
    /// Array/Map: the item node; Union: the branches; Record: the fields in order.
    pub children: Vec<usize>,
    /// Enum: the symbols (labels when a category column reads it).
    pub symbols: Vec<String>,
    /// (kind, column) fed by this node's value.
    pub captures: Vec<(Kind, usize)>,
}

pub struct Program {
    pub nodes: Vec<Node>,
    pub root: usize,
}

struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    #[inline]
    fn long(&mut self) -> Scan<i64> {
        let mut v: u64 = 0;
        let mut shift = 0;
        loop {
            let byte = *self.b.get(self.i).ok_or(Decline)?;
            self.i += 1;
            v |= ((byte & 0x7f) as u64) << shift;
            if byte & 0x80 == 0 {
                return Ok((v >> 1) as i64 ^ -((v & 1) as i64));
            }
            shift += 7;
            if shift > 63 {
                return Err(Decline);
            }
        }
    }

    #[inline]
    fn take(&mut self, n: usize) -> Scan<&'a [u8]> {
        let end = self.i.checked_add(n).ok_or(Decline)?;
        let s = self.b.get(self.i..end).ok_or(Decline)?;
        self.i = end;
        Ok(s)
    }

    #[inline]
    fn len(&mut self) -> Scan<usize> {
        let n = self.long()?;
        usize::try_from(n).map_err(|_| Decline)
    }
}

impl Program {
    /// Read one record (`rec[offset..]`) into row `row` of `cols`.
    pub fn read(&self, rec: &[u8], offset: usize, row: usize, cols: &mut Columns) -> Scan<()> {
        let mut cur = Cur { b: rec, i: offset };
        if offset > rec.len() {
            return Err(Decline);
        }
        self.node(&mut cur, self.root, row, cols, 0)?;
        if cur.i != rec.len() {
            return Err(Decline);
        }
        Ok(())
    }

    /// Read `count` records written one after another in `data` (an object container file's
    /// block) into rows `0..count` of `cols`; all of `data` must be read.
    pub fn read_block(&self, data: &[u8], count: usize, cols: &mut Columns) -> Scan<()> {
        let mut cur = Cur { b: data, i: 0 };
        for row in 0..count {
            self.node(&mut cur, self.root, row, cols, 0)?;
        }
        if cur.i != data.len() {
            return Err(Decline);
        }
        Ok(())
    }

    fn node(&self, cur: &mut Cur, at: usize, row: usize, cols: &mut Columns,
            depth: usize) -> Scan<()> {
        if depth > 64 {
            return Err(Decline);
        }
        let node = &self.nodes[at];
        let caps = &node.captures;
        match node.op {
            Op::Null => {}
            Op::Boolean => {
                let v = cur.take(1)?[0];
                if v > 1 {
                    return Err(Decline);
                }
                for &(kind, col) in caps {
                    if kind != Kind::Category {
                        return Err(Decline);
                    }
                    let code = cols.intern(col, if v == 1 { b"true" } else { b"false" });
                    cols.codes[col * cols.n + row] = code;
                }
            }
            Op::Int => {
                let v = cur.long()?;
                for &(kind, col) in caps {
                    match kind {
                        Kind::Numeric => cols.numeric[col * cols.n + row] = v as f64,
                        Kind::Time => cols.time[row] = v as f64,
                        Kind::Category => {
                            let code = cols.intern(col, v.to_string().as_bytes());
                            cols.codes[col * cols.n + row] = code;
                        }
                    }
                }
            }
            Op::Float | Op::Double => {
                let v = if node.op == Op::Float {
                    f32::from_le_bytes(cur.take(4)?.try_into().map_err(|_| Decline)?) as f64
                } else {
                    f64::from_le_bytes(cur.take(8)?.try_into().map_err(|_| Decline)?)
                };
                for &(kind, col) in caps {
                    if !v.is_finite() {
                        return Err(Decline);
                    }
                    match kind {
                        Kind::Numeric => cols.numeric[col * cols.n + row] = v,
                        Kind::Time => cols.time[row] = v,
                        Kind::Category => return Err(Decline),
                    }
                }
            }
            Op::Bytes | Op::Str | Op::Fixed => {
                let n = if node.op == Op::Fixed { node.size } else { cur.len()? };
                let s = cur.take(n)?;
                if node.op == Op::Str && !caps.is_empty() {
                    if std::str::from_utf8(s).is_err() {
                        return Err(Decline);
                    }
                    for &(kind, col) in caps {
                        if kind != Kind::Category {
                            return Err(Decline);
                        }
                        let code = cols.intern(col, s);
                        cols.codes[col * cols.n + row] = code;
                    }
                } else if !caps.is_empty() {
                    return Err(Decline);
                }
            }
            Op::Enum => {
                let i = cur.long()?;
                let sym = usize::try_from(i).ok().and_then(|i| node.symbols.get(i)).ok_or(Decline)?;
                for &(kind, col) in caps {
                    if kind != Kind::Category {
                        return Err(Decline);
                    }
                    let code = cols.intern(col, sym.as_bytes());
                    cols.codes[col * cols.n + row] = code;
                }
            }
            Op::Array | Op::Map => {
                if !caps.is_empty() {
                    return Err(Decline);
                }
                loop {
                    let mut count = cur.long()?;
                    if count == 0 {
                        break;
                    }
                    if count < 0 {
                        count = count.checked_neg().ok_or(Decline)?;
                        cur.long()?; // the block's size in bytes
                    }
                    for _ in 0..count {
                        if node.op == Op::Map {
                            let n = cur.len()?;
                            cur.take(n)?;
                        }
                        self.node(cur, node.children[0], row, cols, depth + 1)?;
                    }
                }
            }
            Op::Union => {
                let i = cur.long()?;
                let branch = usize::try_from(i).ok().and_then(|i| node.children.get(i))
                    .ok_or(Decline)?;
                self.node(cur, *branch, row, cols, depth + 1)?;
            }
            Op::Record => {
                if !caps.is_empty() {
                    return Err(Decline);
                }
                for &field in &node.children {
                    self.node(cur, field, row, cols, depth + 1)?;
                }
            }
        }
        Ok(())
    }
}
