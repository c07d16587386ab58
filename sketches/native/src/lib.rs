//! `driftline.sketches._native`: the KS and Wasserstein statistics of many (current, baseline)
//! pairs of sorted weighted samples in one call, each pair by one linear merge; the quantiles
//! of many serialized KLL sketches in one call.
//!
//! `cdf_stats(pairs)` reads, for every pair `(xc, cc, xb, cb)` (float64 buffers: the sorted
//! items and cumulative weights of the current and the baseline sketch, as
//! `NumericSketch.sorted_view()` returns them), the two step CDFs on the union grid at the end
//! of each run of equal values, exactly as `sketches/evaluate_cdf.py` does with numpy (its
//! fallback and reference): the KS distance (first maximum of `|F_cur - F_base|`), its x,
//! `F_base`, `F_cur`, the positive and negative parts of the integral of `F_base - F_cur`, and
//! the smallest and largest item. Returned as a bytearray of 8 x len(pairs) float64, one
//! statistic after another.
//!
//! `kll_quantiles(blobs, levels)` reads serialized KLL doubles sketches (bytes) and returns
//! their inclusive quantiles at `levels` (a float64 buffer, each level in [0, 1]) exactly as
//! datasketches' `get_quantiles(levels, True)` computes them (see `kll::quantiles`): a list
//! with a tuple of floats per sketch (NaN for an empty sketch), or None for the rare sketch
//! whose answer datasketches must give itself.
//!
//! `kll_check(raw, k)` validates a serialized KLL doubles sketch before datasketches reads it
//! (see `kll.rs`): None, or the reason it is malformed.

mod kll;

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyTuple};

/// The statistics of one pair (see the module documentation), in output order.
#[derive(Clone, Copy, Default)]
struct Stats {
    d: f64,
    x: f64,
    fb: f64,
    fc: f64,
    pos: f64,
    neg: f64,
    lo: f64,
    hi: f64,
}

/// The running state of one merge: the statistics so far and the previous grid point.
struct Walk {
    s: Stats,
    started: bool,
    prev_x: f64,
    prev_gap: f64, // F_base - F_cur at prev_x
}

impl Walk {
    /// The end of a run of equal values at `x`, with both CDFs read there.
    #[inline(always)]
    fn point(&mut self, x: f64, fb: f64, fc: f64) {
        if self.started {
            let term = self.prev_gap * (x - self.prev_x);
            if term > 0.0 {
                self.s.pos += term;
            } else if term < 0.0 {
                self.s.neg -= term;
            }
        }
        self.started = true;
        self.prev_x = x;
        self.prev_gap = fb - fc;
        let diff = (fc - fb).abs();
        if diff > self.s.d {
            self.s.d = diff;
            self.s.x = x;
            self.s.fb = fb;
            self.s.fc = fc;
        }
    }

    /// The baseline items `xb[j..]` below `limit` (all of them without one): runs of
    /// baseline items only, the current CDF fixed at `fc`. Returns the next `j`.
    #[inline(always)]
    fn base_runs(&mut self, xb: &[f64], cb: &[f64], tb: f64, mut j: usize, limit: Option<f64>,
                 fc: f64) -> usize {
        let nb = xb.len();
        while j < nb && limit.is_none_or(|l| xb[j] < l) {
            if j + 1 == nb || xb[j + 1] != xb[j] {
                self.point(xb[j], cb[j] / tb, fc);
            }
            j += 1;
        }
        j
    }
}

/// One (current, baseline) pair; both sides non-empty, items sorted ascending, cumulative
/// weights of the same length. Runs of equal values end at their last item: the current
/// items of a value come before the baseline's (as numpy's ``searchsorted(side="left")``
/// merges them), so a run's last item is its last baseline item if it has one.
fn pair_stats(xc: &[f64], cc: &[f64], xb: &[f64], cb: &[f64]) -> Stats {
    let (nc, nb) = (xc.len(), xb.len());
    let (tc, tb) = (cc[nc - 1], cb[nb - 1]);
    let mut w = Walk {
        s: Stats { d: -1.0, lo: xc[0].min(xb[0]), hi: xc[nc - 1].max(xb[nb - 1]),
                   ..Stats::default() },
        started: false, prev_x: 0.0, prev_gap: 0.0,
    };
    let (mut i, mut j) = (0usize, 0usize);
    let mut fc = 0.0;
    while i < nc {
        let v = xc[i];
        j = w.base_runs(xb, cb, tb, j, Some(v), fc);
        let mut last = v;
        while i < nc && xc[i] == v {
            last = xc[i];
            i += 1;
        }
        while j < nb && xb[j] == v {
            last = xb[j];
            j += 1;
        }
        fc = cc[i - 1] / tc;
        let fb = if j == 0 { 0.0 } else { cb[j - 1] } / tb;
        w.point(last, fb, fc);
    }
    w.base_runs(xb, cb, tb, j, None, fc);
    w.s
}

/// A C-contiguous 1-d float64 buffer of a Python object (numpy array, memoryview, ...).
fn buffer(obj: &Bound<'_, PyAny>) -> PyResult<PyBuffer<f64>> {
    let buf = PyBuffer::<f64>::get(obj)?;
    if !buf.is_c_contiguous() || buf.dimensions() != 1 {
        return Err(PyValueError::new_err("needs 1-d contiguous float64 arrays"));
    }
    Ok(buf)
}

fn slice(buf: &PyBuffer<f64>) -> &[f64] {
    // the buffer is acquired (and its exporter kept alive) for as long as `buf` lives
    unsafe { std::slice::from_raw_parts(buf.buf_ptr() as *const f64, buf.item_count()) }
}

/// `cdf_stats(pairs)`: see the module documentation.
#[pyfunction]
fn cdf_stats<'py>(py: Python<'py>, pairs: &Bound<'py, PyList>) -> PyResult<Bound<'py, PyByteArray>> {
    let k = pairs.len();
    let mut out = vec![0.0f64; 8 * k];
    for (r, item) in pairs.iter().enumerate() {
        let t = item.cast::<PyTuple>()?;
        if t.len() != 4 {
            return Err(PyValueError::new_err("cdf_stats pairs are (xc, cc, xb, cb)"));
        }
        let bufs = [buffer(&t.get_item(0)?)?, buffer(&t.get_item(1)?)?,
                    buffer(&t.get_item(2)?)?, buffer(&t.get_item(3)?)?];
        let [xc, cc, xb, cb] = [slice(&bufs[0]), slice(&bufs[1]), slice(&bufs[2]), slice(&bufs[3])];
        if xc.is_empty() || xb.is_empty() || cc.len() != xc.len() || cb.len() != xb.len() {
            return Err(PyValueError::new_err(
                "cdf_stats needs non-empty sides with as many weights as items"));
        }
        let s = pair_stats(xc, cc, xb, cb);
        for (f, v) in [s.d, s.x, s.fb, s.fc, s.pos, s.neg, s.lo, s.hi].into_iter().enumerate() {
            out[f * k + r] = v;
        }
    }
    let bytes = unsafe { std::slice::from_raw_parts(out.as_ptr() as *const u8, 8 * out.len()) };
    Ok(PyByteArray::new(py, bytes))
}

/// `kll_quantiles(blobs, levels)`: see the module documentation.
#[pyfunction]
fn kll_quantiles<'py>(py: Python<'py>, blobs: &Bound<'py, PyList>, levels: &Bound<'py, PyAny>)
                      -> PyResult<Bound<'py, PyList>> {
    let buf = buffer(levels)?;
    let levels = slice(&buf);
    if levels.iter().any(|q| !(0.0..=1.0).contains(q)) {
        return Err(PyValueError::new_err("quantile levels must be within [0, 1]"));
    }
    let mut row = vec![0.0f64; levels.len()];
    let mut scratch = kll::Scratch::default();
    let out = PyList::empty(py);
    for (r, blob) in blobs.iter().enumerate() {
        let raw = blob.cast::<PyBytes>()?.as_bytes();
        let known = kll::quantiles(raw, levels, &mut row, &mut scratch)
            .map_err(|reason| PyValueError::new_err(format!("sketch {r}: corrupt KLL: {reason}")))?;
        if known {
            out.append(PyTuple::new(py, &row)?)?;
        } else {
            out.append(py.None())?;
        }
    }
    Ok(out)
}

/// `kll_check(raw, k)`: see the module documentation.
#[pyfunction]
fn kll_check(raw: &Bound<'_, PyBytes>, k: u64) -> Option<String> {
    kll::check(raw.as_bytes(), k)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cdf_stats, m)?)?;
    m.add_function(wrap_pyfunction!(kll_check, m)?)?;
    m.add_function(wrap_pyfunction!(kll_quantiles, m)?)
}
