//! One `consume` call's messages copied into per-partition columns, without the GIL: offsets,
//! timestamps, the values back to back, keys, and which records are tombstones or carry headers.

use std::ffi::{c_int, c_void, CStr};
use std::ptr;

use crate::ffi::{Api, Message, ERR_PARTITION_EOF};

/// The records of one partition in one fetch, in offset order.
pub struct Part {
    pub rkt: usize,
    pub topic: String,
    pub partition: i32,
    pub offsets: Vec<i64>,
    pub timestamps: Vec<i64>,
    pub data: Vec<u8>,
    pub ends: Vec<usize>,
    pub keys: Vec<u8>,
    pub key_spans: Vec<Option<(usize, usize)>>,
    pub tombstones: Vec<usize>,
    pub with_headers: Vec<usize>,
}

/// A message that carried an error instead of a record (end of partition left out).
pub struct Failed {
    pub topic: String,
    pub partition: i32,
    pub error: String,
}

pub unsafe fn topic_name(api: &Api, rkt: *const c_void) -> String {
    if rkt.is_null() {
        return String::new();
    }
    CStr::from_ptr((api.rd_kafka_topic_name)(rkt)).to_string_lossy().into_owned()
}

pub unsafe fn err_str(api: &Api, err: c_int) -> String {
    CStr::from_ptr((api.rd_kafka_err2str)(err)).to_string_lossy().into_owned()
}

/// Up to `max` messages from `queue` (waiting up to `timeout_ms` for the first), destroyed
/// once copied.
///
/// # Safety
/// `queue` must be the consumer queue of a live handle of `api`'s librdkafka.
pub unsafe fn fetch(api: &Api, queue: *mut c_void, max: usize, timeout_ms: c_int)
                    -> (Vec<Part>, Vec<Failed>) {
    let mut msgs: Vec<*mut Message> = vec![ptr::null_mut(); max.max(1)];
    let got = (api.rd_kafka_consume_batch_queue)(queue, timeout_ms, msgs.as_mut_ptr(), max);
    let mut parts: Vec<Part> = Vec::new();
    let mut failed = Vec::new();
    let mut cur = usize::MAX;
    for &m in &msgs[..got.max(0) as usize] {
        let msg = &*m;
        if msg.err != 0 {
            if msg.err != ERR_PARTITION_EOF {
                failed.push(Failed { topic: topic_name(api, msg.rkt), partition: msg.partition,
                                     error: err_str(api, msg.err) });
            }
            (api.rd_kafka_message_destroy)(m);
            continue;
        }
        if cur == usize::MAX || parts[cur].rkt != msg.rkt as usize
            || parts[cur].partition != msg.partition {
            cur = match parts.iter().position(|p| p.rkt == msg.rkt as usize
                                              && p.partition == msg.partition) {
                Some(i) => i,
                None => {
                    parts.push(Part {
                        rkt: msg.rkt as usize, topic: topic_name(api, msg.rkt), partition: msg.partition,
                        offsets: Vec::new(), timestamps: Vec::new(), data: Vec::new(),
                        ends: Vec::new(), keys: Vec::new(), key_spans: Vec::new(),
                        tombstones: Vec::new(), with_headers: Vec::new(),
                    });
                    parts.len() - 1
                }
            };
        }
        let p = &mut parts[cur];
        let row = p.offsets.len();
        p.offsets.push(msg.offset);
        let mut kind: c_int = 0;
        p.timestamps.push((api.rd_kafka_message_timestamp)(m, &mut kind));
        if msg.payload.is_null() {
            p.tombstones.push(row);
        } else {
            p.data.extend_from_slice(std::slice::from_raw_parts(msg.payload as *const u8, msg.len));
        }
        p.ends.push(p.data.len());
        if msg.key.is_null() {
            p.key_spans.push(None);
        } else {
            let start = p.keys.len();
            p.keys.extend_from_slice(std::slice::from_raw_parts(msg.key as *const u8, msg.key_len));
            p.key_spans.push(Some((start, p.keys.len())));
        }
        let mut headers: *mut c_void = ptr::null_mut();
        if (api.rd_kafka_message_headers)(m, &mut headers) == 0 {
            p.with_headers.push(row);
        }
        (api.rd_kafka_message_destroy)(m);
    }
    (parts, failed)
}
