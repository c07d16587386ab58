//! Protobuf messages to the same columns as JSON records, in one pass.
//!
//! `stream/decode_protobuf_native.py` compiles the message type into the messages on monitored
//! paths, each with the fields the columns need (by field number); every other field is
//! skipped by its wire type. A field not sent takes its default when it has no presence (proto3
//! scalars), else stays null. Anything the exact path (the protobuf runtime) might read
//! differently declines the chunk: a monitored field or message sent twice (last-one-wins and
//! merging), a wire type that does not match the field, groups, an unknown enum number,
//! invalid UTF-8, NaN or an infinity in a monitored number, a truncated message.

use crate::columns::{Columns, Kind};
use crate::scan::{Decline, Scan};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ty {
    Double,
    Float,
    Int64,
    UInt64,
    Int32,
    UInt32,
    SInt32,
    SInt64,
    Fixed32,
    Fixed64,
    SFixed32,
    SFixed64,
    Bool,
    Str,
    Enum,
    Message,
}

impl Ty {
    pub fn parse(name: &str) -> Option<Ty> {
        Some(match name {
            "double" => Ty::Double,
            "float" => Ty::Float,
            "int64" => Ty::Int64,
            "uint64" => Ty::UInt64,
            "int32" => Ty::Int32,
            "uint32" => Ty::UInt32,
            "sint32" => Ty::SInt32,
            "sint64" => Ty::SInt64,
            "fixed32" => Ty::Fixed32,
            "fixed64" => Ty::Fixed64,
            "sfixed32" => Ty::SFixed32,
            "sfixed64" => Ty::SFixed64,
            "bool" => Ty::Bool,
            "string" => Ty::Str,
            "enum" => Ty::Enum,
            "message" => Ty::Message,
            _ => return None,
        })
    }

    fn wire(self) -> u64 {
        match self {
            Ty::Double | Ty::Fixed64 | Ty::SFixed64 => 1,
            Ty::Float | Ty::Fixed32 | Ty::SFixed32 => 5,
            Ty::Str | Ty::Message => 2,
            _ => 0,
        }
    }
}

pub struct Field {
    pub number: u32,
    pub ty: Ty,
    /// Message: index of the sub-message in `Program::messages`.
    pub sub: usize,
    /// (number, name) of an enum's values.
    pub names: Vec<(i32, String)>,
    /// No presence: a field not sent reads as its default (`default` below).
    pub implicit: bool,
    /// The default as a number (numeric/time) and as a label (category).
    pub default_num: f64,
    pub default_label: String,
    pub captures: Vec<(Kind, usize)>,
}

pub struct Message {
    pub fields: Vec<Field>,
}

pub struct Program {
    pub messages: Vec<Message>,
    seen: Vec<Vec<u32>>,
    stamp: u32,
}

#[derive(Clone, Copy)]
enum Value<'a> {
    Num(f64),
    Int(i128),
    Text(&'a [u8]),
    Bool(bool),
}

struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    #[inline]
    fn varint(&mut self) -> Scan<u64> {
        let mut v: u64 = 0;
        let mut shift = 0;
        loop {
            let byte = *self.b.get(self.i).ok_or(Decline)?;
            self.i += 1;
            if shift == 63 && byte > 1 {
                return Err(Decline);
            }
            v |= ((byte & 0x7f) as u64) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err(Decline);
            }
        }
    }

    #[inline]
    fn take(&mut self, n: usize, end: usize) -> Scan<&'a [u8]> {
        let stop = self.i.checked_add(n).ok_or(Decline)?;
        if stop > end {
            return Err(Decline);
        }
        let s = &self.b[self.i..stop];
        self.i = stop;
        Ok(s)
    }

    fn skip(&mut self, wire: u64, end: usize) -> Scan<()> {
        match wire {
            0 => {
                self.varint()?;
            }
            1 => {
                self.take(8, end)?;
            }
            2 => {
                let n = usize::try_from(self.varint()?).map_err(|_| Decline)?;
                self.take(n, end)?;
            }
            5 => {
                self.take(4, end)?;
            }
            _ => return Err(Decline), // groups
        }
        Ok(())
    }
}

impl Program {
    pub fn new(messages: Vec<Message>) -> Program {
        let seen = messages.iter().map(|m| vec![0; m.fields.len()]).collect();
        Program { messages, seen, stamp: 0 }
    }

    /// Read one message (`rec[offset..]`) into row `row` of `cols`.
    pub fn read(&mut self, rec: &[u8], offset: usize, row: usize, cols: &mut Columns) -> Scan<()> {
        if offset > rec.len() {
            return Err(Decline);
        }
        let mut cur = Cur { b: rec, i: offset };
        self.message(&mut cur, rec.len(), 0, row, cols, 0)
    }

    fn message(&mut self, cur: &mut Cur, end: usize, m: usize, row: usize, cols: &mut Columns,
               depth: usize) -> Scan<()> {
        if depth > 64 {
            return Err(Decline);
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.seen.iter_mut().for_each(|s| s.iter_mut().for_each(|x| *x = 0));
            self.stamp = 1;
        }
        let stamp = self.stamp;
        while cur.i < end {
            let key = cur.varint()?;
            let number = key >> 3;
            let wire = key & 7;
            let found = self.messages[m].fields.iter().position(|f| f.number as u64 == number);
            let Some(k) = found else {
                cur.skip(wire, end)?;
                continue;
            };
            let (ty, sub) = (self.messages[m].fields[k].ty, self.messages[m].fields[k].sub);
            if wire != ty.wire() || self.seen[m][k] == stamp {
                return Err(Decline); // another wire type, or sent twice
            }
            self.seen[m][k] = stamp;
            let value = match ty {
                Ty::Message => {
                    let n = usize::try_from(cur.varint()?).map_err(|_| Decline)?;
                    let stop = cur.i.checked_add(n).ok_or(Decline)?;
                    if stop > end {
                        return Err(Decline);
                    }
                    self.message(cur, stop, sub, row, cols, depth + 1)?;
                    continue;
                }
                Ty::Double => Value::Num(f64::from_le_bytes(cur.take(8, end)?.try_into().unwrap())),
                Ty::Float => Value::Num(f32::from_le_bytes(cur.take(4, end)?.try_into().unwrap()) as f64),
                Ty::Fixed64 => Value::Int(u64::from_le_bytes(cur.take(8, end)?.try_into().unwrap()) as i128),
                Ty::SFixed64 => Value::Int(i64::from_le_bytes(cur.take(8, end)?.try_into().unwrap()) as i128),
                Ty::Fixed32 => Value::Int(u32::from_le_bytes(cur.take(4, end)?.try_into().unwrap()) as i128),
                Ty::SFixed32 => Value::Int(i32::from_le_bytes(cur.take(4, end)?.try_into().unwrap()) as i128),
                Ty::Str => {
                    let n = usize::try_from(cur.varint()?).map_err(|_| Decline)?;
                    let s = cur.take(n, end)?;
                    if std::str::from_utf8(s).is_err() {
                        return Err(Decline);
                    }
                    Value::Text(s)
                }
                _ => {
                    let v = cur.varint()?;
                    match ty {
                        Ty::Int64 => Value::Int(v as i64 as i128),
                        Ty::UInt64 => Value::Int(v as i128),
                        Ty::Int32 => Value::Int(v as i32 as i128),
                        Ty::UInt32 => Value::Int(v as u32 as i128),
                        Ty::SInt32 => {
                            let u = v as u32;
                            Value::Int(((u >> 1) as i32 ^ -((u & 1) as i32)) as i128)
                        }
                        Ty::SInt64 => Value::Int(((v >> 1) as i64 ^ -((v & 1) as i64)) as i128),
                        Ty::Bool => Value::Bool(v != 0),
                        _ => {
                            let n = v as i32; // Ty::Enum
                            let f = &self.messages[m].fields[k];
                            let name = f.names.iter().find(|(x, _)| *x == n).ok_or(Decline)?;
                            Value::Text(name.1.as_bytes())
                        }
                    }
                }
            };
            write(&self.messages[m].fields[k].captures, value, row, cols)?;
        }
        if cur.i != end {
            return Err(Decline);
        }
        for (k, f) in self.messages[m].fields.iter().enumerate() {
            if f.implicit && self.seen[m][k] != stamp && f.ty != Ty::Message {
                for &(kind, col) in &f.captures {
                    match kind {
                        Kind::Numeric => cols.numeric[col * cols.n + row] = f.default_num,
                        Kind::Time => cols.time[row] = f.default_num,
                        Kind::Category => {
                            let code = cols.intern(col, f.default_label.as_bytes());
                            cols.codes[col * cols.n + row] = code;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

fn write(captures: &[(Kind, usize)], value: Value, row: usize, cols: &mut Columns) -> Scan<()> {
    if let Value::Num(x) = value {
        if !x.is_finite() && !captures.is_empty() {
            return Err(Decline);
        }
    }
    for &(kind, col) in captures {
        match kind {
            Kind::Numeric | Kind::Time => {
                let x = match value {
                    Value::Num(x) => x,
                    Value::Int(i) => i as f64,
                    _ => return Err(Decline),
                };
                if kind == Kind::Numeric {
                    cols.numeric[col * cols.n + row] = x;
                } else {
                    cols.time[row] = x;
                }
            }
            Kind::Category => {
                let code = match value {
                    Value::Text(s) => cols.intern(col, s),
                    Value::Int(i) => cols.intern(col, i.to_string().as_bytes()),
                    Value::Bool(b) => cols.intern(col, if b { b"true" } else { b"false" }),
                    Value::Num(_) => return Err(Decline),
                };
                cols.codes[col * cols.n + row] = code;
            }
        }
    }
    Ok(())
}
