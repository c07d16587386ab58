//! `driftline.stream.kafka._rdfetch`: a librdkafka group consumer whose `consume` returns each
//! partition's records as lists (offsets, timestamps, values, keys, tombstones, headers) built
//! in one pass: no message object per record; the lists hold the values, keys, offsets and
//! timestamps directly.
//!
//! It calls the librdkafka that confluent-kafka ships (its path is given), through `dlopen`.
//! Rebalances call the Python `on_rebalance("assign" | "revoke", [(topic, partition)])` on the
//! thread inside `consume` (or `close`), which assigns with `assign(...)` as librdkafka asks.

mod ffi;
mod fetch;

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use ffi::{Api, TopicPartitionList, ERR_ASSIGN_PARTITIONS, RD_KAFKA_CONSUMER, RD_KAFKA_PARTITION_UA};

/// What the rebalance callback needs: the library and the Python callable, and where an
/// exception it raised waits until `consume` returns.
struct Rebalance {
    api: *const Api,
    on_rebalance: Py<PyAny>,
    error: Mutex<Option<PyErr>>,
    /// set by `assign` (the callback's duty); false while a callback runs: unassigned after it
    assigned: AtomicBool,
    /// false once the handle is dropped without close(): the callback then only unassigns
    python: AtomicBool,
}

struct Handle {
    api: Box<Api>,
    rk: *mut c_void,
    queue: *mut c_void,
    rebalance: Box<Rebalance>,
}

// librdkafka handles are thread-safe; the pointers are owned by `Consumer` for its lifetime
unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}
unsafe impl Send for Rebalance {}
unsafe impl Sync for Rebalance {}

unsafe fn new_list(api: &Api, tps: &[(String, i32, i64)]) -> PyResult<*mut TopicPartitionList> {
    let list = (api.rd_kafka_topic_partition_list_new)(tps.len().max(1) as c_int);
    for (topic, partition, offset) in tps {
        let name = CString::new(topic.as_str()).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let tp = (api.rd_kafka_topic_partition_list_add)(list, name.as_ptr(), *partition);
        (*tp).offset = *offset;
    }
    Ok(list)
}

unsafe fn read_list(list: *const TopicPartitionList) -> Vec<(String, i32)> {
    if list.is_null() {
        return Vec::new();
    }
    let l = &*list;
    (0..l.cnt as usize)
        .map(|i| {
            let tp = &*l.elems.add(i);
            (CStr::from_ptr(tp.topic).to_string_lossy().into_owned(), tp.partition)
        })
        .collect()
}

unsafe extern "C" fn rebalance_cb(rk: *mut c_void, err: c_int, parts: *mut TopicPartitionList,
                                  opaque: *mut c_void) {
    let state = &*(opaque as *const Rebalance);
    let api = &*state.api;
    let kind = if err == ERR_ASSIGN_PARTITIONS { "assign" } else { "revoke" };
    let tps = read_list(parts);
    state.assigned.store(false, Ordering::SeqCst);
    if state.python.load(Ordering::SeqCst) {
        let called = Python::attach(|py| state.on_rebalance.call1(py, (kind, tps)).map(|_| ()));
        if let Err(e) = called {
            *state.error.lock().expect("not poisoned") = Some(e);  // raised by consume()
            state.assigned.store(false, Ordering::SeqCst);
        }
    }
    // librdkafka waits for an (un)assignment in the callback: consume nothing without the
    // owner's state when it did not assign (an error, or no owner any more)
    if !state.assigned.load(Ordering::SeqCst) {
        (api.rd_kafka_assign)(rk, std::ptr::null());
    }
}

/// A librdkafka consumer in a group (see the module documentation).
#[pyclass(frozen)]
struct Consumer {
    h: Handle,
    closed: AtomicBool,
}

impl Consumer {
    fn api(&self) -> &Api {
        &self.h.api
    }

    fn raise_pending(&self) -> PyResult<()> {
        match self.h.rebalance.error.lock().expect("not poisoned").take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn with_list<T>(&self, tps: &[(String, i32, i64)],
                    f: impl FnOnce(*mut TopicPartitionList) -> T) -> PyResult<T> {
        unsafe {
            let list = new_list(self.api(), tps)?;
            let out = f(list);
            (self.api().rd_kafka_topic_partition_list_destroy)(list);
            Ok(out)
        }
    }
}

#[pymethods]
impl Consumer {
    /// `library`: the path of librdkafka; `conf`: librdkafka properties (strings).
    #[new]
    fn new(library: &str, conf: Vec<(String, String)>, on_rebalance: Py<PyAny>) -> PyResult<Self> {
        unsafe {
            let path = CString::new(library).map_err(|e| PyValueError::new_err(e.to_string()))?;
            let lib = libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
            if lib.is_null() {
                let why = CStr::from_ptr(libc::dlerror()).to_string_lossy().into_owned();
                return Err(PyRuntimeError::new_err(format!("cannot load {library}: {why}")));
            }
            let api = Box::new(Api::load(lib).map_err(PyRuntimeError::new_err)?);
            let rebalance = Box::new(Rebalance {
                api: &*api as *const Api, on_rebalance, error: Mutex::new(None),
                assigned: AtomicBool::new(false), python: AtomicBool::new(true),
            });
            let c = (api.rd_kafka_conf_new)();
            let mut errstr = [0 as c_char; 512];
            for (name, value) in &conf {
                let (n, v) = (CString::new(name.as_str()), CString::new(value.as_str()));
                let (Ok(n), Ok(v)) = (n, v) else {
                    (api.rd_kafka_conf_destroy)(c);
                    return Err(PyValueError::new_err(format!("{name}: a NUL in the setting")));
                };
                if (api.rd_kafka_conf_set)(c, n.as_ptr(), v.as_ptr(), errstr.as_mut_ptr(),
                                           errstr.len()) != 0 {
                    (api.rd_kafka_conf_destroy)(c);
                    let why = CStr::from_ptr(errstr.as_ptr()).to_string_lossy();
                    return Err(PyValueError::new_err(format!("{name}: {why}")));
                }
            }
            (api.rd_kafka_conf_set_rebalance_cb)(c, Some(rebalance_cb));
            (api.rd_kafka_conf_set_opaque)(c, &*rebalance as *const Rebalance as *mut c_void);
            let rk = (api.rd_kafka_new)(RD_KAFKA_CONSUMER, c, errstr.as_mut_ptr(), errstr.len());
            if rk.is_null() {
                (api.rd_kafka_conf_destroy)(c);
                let why = CStr::from_ptr(errstr.as_ptr()).to_string_lossy();
                return Err(PyRuntimeError::new_err(format!("librdkafka consumer: {why}")));
            }
            (api.rd_kafka_poll_set_consumer)(rk);
            let queue = (api.rd_kafka_queue_get_consumer)(rk);
            Ok(Consumer { h: Handle { api, rk, queue, rebalance }, closed: AtomicBool::new(false) })
        }
    }

    fn subscribe(&self, topics: Vec<String>) -> PyResult<()> {
        let tps: Vec<_> = topics.into_iter().map(|t| (t, RD_KAFKA_PARTITION_UA, -1001)).collect();
        let err = self.with_list(&tps, |l| unsafe { (self.api().rd_kafka_subscribe)(self.h.rk, l) })?;
        self.check(err, "subscribe")
    }

    /// Assign these (topic, partition, start offset); None: unassign. Inside `on_rebalance`.
    #[pyo3(signature = (tps=None))]
    fn assign(&self, tps: Option<Vec<(String, i32, i64)>>) -> PyResult<()> {
        let err = match tps {
            Some(tps) => self.with_list(&tps, |l| unsafe { (self.api().rd_kafka_assign)(self.h.rk, l) })?,
            None => unsafe { (self.api().rd_kafka_assign)(self.h.rk, std::ptr::null()) },
        };
        self.h.rebalance.assigned.store(true, Ordering::SeqCst);
        self.check(err, "assign")
    }

    /// Up to `max_messages` records per call, waiting up to `timeout_ms` for the first: a list
    /// of (topic, partition, offsets, timestamps, values, keys, tombstones, with_headers), and
    /// a list of (topic, partition, error) for messages that carried an error.
    fn consume<'py>(&self, py: Python<'py>, max_messages: usize, timeout_ms: i32)
                    -> PyResult<(Bound<'py, PyList>, Vec<(String, i32, String)>)> {
        let h = &self.h;
        let (parts, failed) = py.detach(|| unsafe {
            fetch::fetch(&h.api, h.queue, max_messages, timeout_ms)
        });
        self.raise_pending()?;
        let out = PyList::empty(py);
        for p in parts {
            let mut start = 0;
            let values = PyList::empty(py);
            for &end in &p.ends {
                values.append(PyBytes::new(py, &p.data[start..end]))?;
                start = end;
            }
            let keys = PyList::empty(py);
            for span in &p.key_spans {
                match span {
                    Some((a, b)) => keys.append(PyBytes::new(py, &p.keys[*a..*b]))?,
                    None => keys.append(py.None())?,
                }
            }
            out.append(PyTuple::new(py, [
                p.topic.into_pyobject(py)?.into_any(),
                p.partition.into_pyobject(py)?.into_any(),
                PyList::new(py, p.offsets)?.into_any(),
                PyList::new(py, p.timestamps)?.into_any(),
                values.into_any(),
                keys.into_any(),
                PyList::new(py, p.tombstones)?.into_any(),
                PyList::new(py, p.with_headers)?.into_any(),
            ])?)?;
        }
        let failed = failed.into_iter().map(|f| (f.topic, f.partition, f.error)).collect();
        Ok((out, failed))
    }

    /// The offset after the last record returned or skipped (None: not known yet).
    fn position(&self, topic: String, partition: i32) -> PyResult<Option<i64>> {
        let off = self.with_list(&[(topic, partition, -1001)], |l| unsafe {
            (self.api().rd_kafka_position)(self.h.rk, l);
            (*(*l).elems).offset
        })?;
        Ok(if off >= 0 { Some(off) } else { None })
    }

    /// The cached high watermark (the last stable offset under read_committed), if known.
    fn watermark(&self, topic: &str, partition: i32) -> PyResult<Option<i64>> {
        let name = CString::new(topic).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let (mut low, mut high) = (-1i64, -1i64);
        let err = unsafe {
            (self.api().rd_kafka_get_watermark_offsets)(self.h.rk, name.as_ptr(), partition,
                                                        &mut low, &mut high)
        };
        Ok(if err == 0 && high >= 0 { Some(high) } else { None })
    }

    fn seek(&self, py: Python<'_>, topic: String, partition: i32, offset: i64) -> PyResult<()> {
        let h = &self.h;
        let why = py.detach(|| self.with_list(&[(topic, partition, offset)], |l| unsafe {
            let api = &*h.api;
            let e = (api.rd_kafka_seek_partitions)(h.rk, l, 10_000);
            let mut why = None;
            if !e.is_null() {
                why = Some(CStr::from_ptr((api.rd_kafka_error_string)(e)).to_string_lossy().into_owned());
                (api.rd_kafka_error_destroy)(e);
            } else if (*(*l).elems).err != 0 {
                why = Some(fetch::err_str(api, (*(*l).elems).err));
            }
            why
        }))?;
        match why {
            Some(w) => Err(PyRuntimeError::new_err(format!("seek: {w}"))),
            None => Ok(()),
        }
    }

    /// Commit these offsets and wait for the answer; the error's text when it failed.
    fn commit(&self, py: Python<'_>, offsets: Vec<(String, i32, i64)>) -> PyResult<Option<String>> {
        let h = &self.h;
        let err = py.detach(|| self.with_list(&offsets, |l| unsafe { (h.api.rd_kafka_commit)(h.rk, l, 0) }))?;
        Ok(if err == 0 { None } else { Some(unsafe { fetch::err_str(self.api(), err) }) })
    }

    /// Leave the group (its revoke callback runs first, on this thread) and free the handle.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let h = &self.h;
        py.detach(|| unsafe {
            (h.api.rd_kafka_consumer_close)(h.rk);
            (h.api.rd_kafka_queue_destroy)(h.queue);
            (h.api.rd_kafka_destroy)(h.rk);
        });
        self.raise_pending()
    }
}

impl Consumer {
    fn check(&self, err: c_int, what: &str) -> PyResult<()> {
        if err == 0 {
            return Ok(());
        }
        Err(PyRuntimeError::new_err(format!("{what}: {}", unsafe { fetch::err_str(self.api(), err) })))
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            let h = &self.h;
            h.rebalance.python.store(false, Ordering::SeqCst);
            unsafe {
                (h.api.rd_kafka_consumer_close)(h.rk);
                (h.api.rd_kafka_queue_destroy)(h.queue);
                (h.api.rd_kafka_destroy)(h.rk);
            }
        }
    }
}

#[pymodule]
fn _rdfetch(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Consumer>()?;
    Ok(())
}
