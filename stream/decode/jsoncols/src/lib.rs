//! `stream._jsoncols`: JSON records (bytes) to driftline's feature columns, in one pass.
//!
//! `Reader(leaves).read(records)` returns the monitored values of a chunk of records as
//! column buffers, or `None` when any record is one the scanner cannot vouch for (the Python
//! decoder then takes the chunk the exact way). See `stream/decode_native.py`.

mod columns;
mod number;
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
            let kind = match kind.as_str() {
                "numeric" => Kind::Numeric,
                "category" => Kind::Category,
                "time" => Kind::Time,
                other => return Err(PyValueError::new_err(format!("unknown leaf kind {other:?}"))),
            };
            spec.push((kind, keys.into_iter().map(String::into_bytes).collect()));
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
        let n = records.len();
        let mut cols = Columns::new(&self.inner.schema, n);
        for (row, item) in records.iter().enumerate() {
            let Ok(bytes) = item.cast::<PyBytes>() else {
                return Ok(None);
            };
            if self.inner.read(bytes.as_bytes(), row, &mut cols).is_err() {
                return Ok(None);
            }
        }
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
        Ok(Some(PyTuple::new(py, [numeric.into_any(), codes.into_any(), labels.into_any(), time])?))
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
    m.add_function(wrap_pyfunction!(longest, m)?)?;
    Ok(())
}
