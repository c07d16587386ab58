//! `stream._jsoncols`: JSON records (bytes) to driftline's feature columns, in one pass.
//!
//! `Reader(leaves).read(records)` returns the monitored values of a chunk of records as
//! column buffers, or `None` when any record is one the scanner cannot vouch for (the Python
//! decoder then takes the chunk the exact way). See `stream/decode_native.py`.

mod avro;
mod columns;
mod number;
mod proto;
mod scan;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyTuple};

use columns::{Columns, Kind, Schema};

fn as_bytes<T>(v: &[T]) -> &[u8] {
    // plain old data (f64, i32) viewed as bytes in native order
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
}

/// Reads chunks of JSON records into columns for a fixed set of leaves.
#[pyclass(module = "stream._jsoncols")]
struct Reader {
    inner: columns::Reader,
}

#[pymethods]
impl Reader {
    /// `leaves`: (kind, keys) in column order; kind is "numeric", "category" or "time".
    #[new]
    fn new(leaves: Vec<(String, Vec<String>)>) -> PyResult<Self> {
        let mut spec = Vec::with_capacity(leaves.len());
        for (kind, keys) in leaves {
            spec.push((leaf_kind(&kind)?, keys.into_iter().map(String::into_bytes).collect()));
        }
        let schema = Schema::new(&spec).map_err(PyValueError::new_err)?;
        Ok(Reader { inner: columns::Reader::new(schema) })
    }

    /// `(numeric, codes, labels, time)` for `records` (a list of bytes), or None.
    ///
    /// `numeric`: bytearray of float64, one column of len(records) after another (NaN where
    /// null or missing); `codes`: bytearray of int32 per category column (-1 where null or
    /// missing) with `labels[i]` the labels of column i in order of first appearance; `time`:
    /// bytearray of float64 (NaN where null or missing), or a list of float | str | None when
    /// some event time is a string.
    fn read<'py>(&mut self, py: Python<'py>, records: &Bound<'py, PyList>)
                 -> PyResult<Option<Bound<'py, PyTuple>>> {
        let inner = &mut self.inner;
        read_each(py, records, inner.schema.n_numeric, inner.schema.n_category,
                  |rec, row, cols| inner.read(rec, row, cols).is_ok())
    }
}

/// Reads every record of `records` (bytes) into row i of columns with `read`; None when one is
/// not bytes or `read` says it was not read cleanly. The loop of every reader. It runs without
/// the GIL: the records are borrowed from the list (a reference to each is held while the scan
/// runs, and `bytes` never change), so another Python thread (the consumer fetching the next
/// batch) runs meanwhile (a reader is used by one thread at a time: a second call on the same
/// reader during the scan raises instead of waiting).
fn read_each<'py>(py: Python<'py>, records: &Bound<'py, PyList>, n_numeric: usize,
                  n_category: usize, mut read: impl FnMut(&[u8], usize, &mut Columns) -> bool + Send)
                  -> PyResult<Option<Bound<'py, PyTuple>>> {
    let n = records.len();
    let mut held: Vec<Bound<'py, PyBytes>> = Vec::with_capacity(n);
    for item in records.iter() {
        match item.cast_into::<PyBytes>() {
            Ok(bytes) => held.push(bytes),
            Err(_) => return Ok(None),
        }
    }
    let slices: Vec<&[u8]> = held.iter().map(|b| b.as_bytes()).collect();
    let mut cols = Columns::sized(n_numeric, n_category, n);
    let cols_ref = &mut cols;
    if !py.detach(|| slices.iter().enumerate().all(|(row, rec)| read(rec, row, cols_ref))) {
        return Ok(None);
    }
    columns_tuple(py, &cols, n).map(Some)
}

/// `(numeric, codes, labels, time)` of `cols` (see `Reader.read`).
fn columns_tuple<'py>(py: Python<'py>, cols: &Columns, n: usize) -> PyResult<Bound<'py, PyTuple>> {
        let numeric = PyByteArray::new(py, as_bytes(&cols.numeric));
        let codes = PyByteArray::new(py, as_bytes(&cols.codes));
        let mut label_lists = Vec::with_capacity(cols.labels.len());
        for l in &cols.labels {
            label_lists.push(PyList::new(py, l)?);
        }
        let labels = PyList::new(py, label_lists)?;
        let time: Bound<'py, PyAny> = if cols.time_text.is_empty() {
            PyByteArray::new(py, as_bytes(&cols.time)).into_any()
        } else {
            let mut items: Vec<Py<PyAny>> = Vec::with_capacity(n);
            for &t in &cols.time {
                items.push(if t.is_nan() { py.None() } else { t.into_pyobject(py)?.into_any().unbind() });
            }
            for (row, text) in &cols.time_text {
                items[*row] = text.into_pyobject(py)?.into_any().unbind();
            }
            PyList::new(py, items)?.into_any()
        };
        PyTuple::new(py, [numeric.into_any(), codes.into_any(), labels.into_any(), time])
}

/// Node of a compiled Avro schema: (op, fixed size, children, enum symbols, captures as
/// (kind, column)); see `stream/decode_avro_native.py`.
type NodeSpec = (String, usize, Vec<usize>, Vec<String>, Vec<(String, usize)>);

fn leaf_kind(kind: &str) -> PyResult<Kind> {
    match kind {
        "numeric" => Ok(Kind::Numeric),
        "category" => Ok(Kind::Category),
        "time" => Ok(Kind::Time),
        other => Err(PyValueError::new_err(format!("unknown leaf kind {other:?}"))),
    }
}

/// The columns a schema node writes its value to, checked against the column counts.
fn parse_captures(caps: Vec<(String, usize)>, n_numeric: usize, n_category: usize)
                  -> PyResult<Vec<(Kind, usize)>> {
    let mut captures = Vec::with_capacity(caps.len());
    for (kind, col) in caps {
        let kind = leaf_kind(&kind)?;
        let limit = match kind {
            Kind::Numeric => n_numeric,
            Kind::Category => n_category,
            Kind::Time => 1,
        };
        if col >= limit {
            return Err(PyValueError::new_err("capture column out of range"));
        }
        captures.push((kind, col));
    }
    Ok(captures)
}

/// Reads chunks of Avro binary records of one writer schema into columns.
#[pyclass(module = "stream._jsoncols")]
struct AvroReader {
    program: avro::Program,
    n_numeric: usize,
    n_category: usize,
}

#[pymethods]
impl AvroReader {
    #[new]
    fn new(nodes: Vec<NodeSpec>, root: usize, n_numeric: usize, n_category: usize)
           -> PyResult<Self> {
        let mut out = Vec::with_capacity(nodes.len());
        for (op, size, children, symbols, caps) in nodes {
            let op = avro::Op::parse(&op)
                .ok_or_else(|| PyValueError::new_err(format!("unknown Avro op {op:?}")))?;
            if children.iter().any(|&c| c >= usize::MAX / 2) {
                return Err(PyValueError::new_err("bad child index"));
            }
            let captures = parse_captures(caps, n_numeric, n_category)?;
            out.push(avro::Node { op, size, children, symbols, captures });
        }
        let n = out.len();
        if root >= n || out.iter().any(|nd| nd.children.iter().any(|&c| c >= n))
            || out.iter().any(|nd| matches!(nd.op, avro::Op::Array | avro::Op::Map)
                              && nd.children.len() != 1) {
            return Err(PyValueError::new_err("malformed program"));
        }
        Ok(AvroReader { program: avro::Program { nodes: out, root }, n_numeric, n_category })
    }

    /// `(numeric, codes, labels, time)` for `records` (bytes, each read from `offset`: 5 for
    /// the Confluent wire format), or None when a record is not read cleanly to its end.
    fn read<'py>(&self, py: Python<'py>, records: &Bound<'py, PyList>, offset: usize)
                 -> PyResult<Option<Bound<'py, PyTuple>>> {
        let program = &self.program;
        read_each(py, records, self.n_numeric, self.n_category,
                  |rec, row, cols| program.read(rec, offset, row, cols).is_ok())
    }

    /// The same for `count` records written one after another in `data` (a container file's
    /// block), or None when they are not read cleanly to its end.
    fn read_block<'py>(&self, py: Python<'py>, data: &Bound<'py, PyBytes>, count: usize)
                       -> PyResult<Option<Bound<'py, PyTuple>>> {
        if count > 50_000_000 {
            return Ok(None);
        }
        let mut cols = Columns::sized(self.n_numeric, self.n_category, count);
        if self.program.read_block(data.as_bytes(), count, &mut cols).is_err() {
            return Ok(None);
        }
        columns_tuple(py, &cols, count).map(Some)
    }
}

/// A field of a compiled Protobuf message: (number, type, sub-message, enum values, implicit
/// presence, default number, default label, captures); see `stream/decode_protobuf_native.py`.
type FieldSpec = (u32, String, usize, Vec<(i32, String)>, bool, f64, String, Vec<(String, usize)>);

/// Reads chunks of Protobuf messages of one type into columns.
#[pyclass(module = "stream._jsoncols")]
struct ProtoReader {
    program: proto::Program,
    n_numeric: usize,
    n_category: usize,
}

#[pymethods]
impl ProtoReader {
    #[new]
    fn new(messages: Vec<Vec<FieldSpec>>, n_numeric: usize, n_category: usize) -> PyResult<Self> {
        let n_msgs = messages.len();
        if n_msgs == 0 {
            return Err(PyValueError::new_err("no message"));
        }
        let mut out = Vec::with_capacity(n_msgs);
        for fields in messages {
            let mut fs = Vec::with_capacity(fields.len());
            for (number, ty, sub, names, implicit, default_num, default_label, caps) in fields {
                let ty = proto::Ty::parse(&ty)
                    .ok_or_else(|| PyValueError::new_err(format!("unknown type {ty:?}")))?;
                if ty == proto::Ty::Message && sub >= n_msgs {
                    return Err(PyValueError::new_err("bad sub-message index"));
                }
                let captures = parse_captures(caps, n_numeric, n_category)?;
                fs.push(proto::Field { number, ty, sub, names, implicit, default_num,
                                       default_label, captures });
            }
            out.push(proto::Message { fields: fs });
        }
        Ok(ProtoReader { program: proto::Program::new(out), n_numeric, n_category })
    }

    /// `(numeric, codes, labels, time)` for `records` (bytes, each read from `offset`), or None
    /// when a record is not one the exact path is sure to read the same way.
    fn read<'py>(&mut self, py: Python<'py>, records: &Bound<'py, PyList>, offset: usize)
                 -> PyResult<Option<Bound<'py, PyTuple>>> {
        let program = &mut self.program;
        read_each(py, records, self.n_numeric, self.n_category,
                  |rec, row, cols| program.read(rec, offset, row, cols).is_ok())
    }
}

/// The length of the longest of `records` (0 for none), or None when one is not bytes: the
/// decoder's check for records over its size limit, without a Python call per record.
#[pyfunction]
fn longest(records: &Bound<'_, PyList>) -> Option<usize> {
    let mut most = 0;
    for item in records.iter() {
        most = most.max(item.cast::<PyBytes>().ok()?.as_bytes().len());
    }
    Some(most)
}

#[pymodule]
fn _jsoncols(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Reader>()?;
    m.add_class::<AvroReader>()?;
    m.add_class::<ProtoReader>()?;
    m.add_function(wrap_pyfunction!(longest, m)?)?;
    Ok(())
}
