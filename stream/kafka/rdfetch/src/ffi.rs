//! The part of librdkafka's C API (rdkafka.h, stable ABI) this consumer calls, resolved with
//! `dlsym` from the librdkafka the process already uses (confluent-kafka's), so that nothing is
//! linked at build time and the two clients share one library.

use std::ffi::{c_char, c_int, c_void, CString};

pub const RD_KAFKA_CONSUMER: c_int = 1;
pub const RD_KAFKA_PARTITION_UA: i32 = -1;
pub const ERR_ASSIGN_PARTITIONS: c_int = -175;
pub const ERR_PARTITION_EOF: c_int = -191;

/// `rd_kafka_message_t`
#[repr(C)]
pub struct Message {
    pub err: c_int,
    pub rkt: *mut c_void,
    pub partition: i32,
    pub payload: *mut c_void,
    pub len: usize,
    pub key: *mut c_void,
    pub key_len: usize,
    pub offset: i64,
    pub private: *mut c_void,
}

/// `rd_kafka_topic_partition_t`
#[repr(C)]
pub struct TopicPartition {
    pub topic: *mut c_char,
    pub partition: i32,
    pub offset: i64,
    pub metadata: *mut c_void,
    pub metadata_size: usize,
    pub opaque: *mut c_void,
    pub err: c_int,
    pub private: *mut c_void,
}

/// `rd_kafka_topic_partition_list_t`
#[repr(C)]
pub struct TopicPartitionList {
    pub cnt: c_int,
    pub size: c_int,
    pub elems: *mut TopicPartition,
}

pub type RebalanceCb = unsafe extern "C" fn(*mut c_void, c_int, *mut TopicPartitionList, *mut c_void);

macro_rules! api {
    ($($name:ident : fn($($arg:ty),*) $(-> $ret:ty)?;)*) => {
        /// Function pointers into librdkafka.
        pub struct Api { $(pub $name: unsafe extern "C" fn($($arg),*) $(-> $ret)?,)* }

        impl Api {
            /// # Safety
            /// `handle` must be a `dlopen` handle of librdkafka (>= 2.3).
            pub unsafe fn load(handle: *mut c_void) -> Result<Api, String> {
                Ok(Api { $($name: {
                    let name = CString::new(stringify!($name)).expect("a C name");
                    let p = libc::dlsym(handle, name.as_ptr());
                    if p.is_null() {
                        return Err(format!("librdkafka has no {}", stringify!($name)));
                    }
                    std::mem::transmute::<*mut c_void, unsafe extern "C" fn($($arg),*) $(-> $ret)?>(p)
                },)* })
            }
        }
    };
}

api! {
    rd_kafka_conf_new: fn() -> *mut c_void;
    rd_kafka_conf_set: fn(*mut c_void, *const c_char, *const c_char, *mut c_char, usize) -> c_int;
    rd_kafka_conf_destroy: fn(*mut c_void);
    rd_kafka_conf_set_rebalance_cb: fn(*mut c_void, Option<RebalanceCb>);
    rd_kafka_conf_set_opaque: fn(*mut c_void, *mut c_void);
    rd_kafka_new: fn(c_int, *mut c_void, *mut c_char, usize) -> *mut c_void;
    rd_kafka_destroy: fn(*mut c_void);
    rd_kafka_poll_set_consumer: fn(*mut c_void) -> c_int;
    rd_kafka_queue_get_consumer: fn(*mut c_void) -> *mut c_void;
    rd_kafka_queue_destroy: fn(*mut c_void);
    rd_kafka_subscribe: fn(*mut c_void, *const TopicPartitionList) -> c_int;
    rd_kafka_assign: fn(*mut c_void, *const TopicPartitionList) -> c_int;
    rd_kafka_consume_batch_queue: fn(*mut c_void, c_int, *mut *mut Message, usize) -> isize;
    rd_kafka_message_destroy: fn(*mut Message);
    rd_kafka_message_timestamp: fn(*const Message, *mut c_int) -> i64;
    rd_kafka_message_headers: fn(*const Message, *mut *mut c_void) -> c_int;
    rd_kafka_topic_name: fn(*const c_void) -> *const c_char;
    rd_kafka_topic_partition_list_new: fn(c_int) -> *mut TopicPartitionList;
    rd_kafka_topic_partition_list_add: fn(*mut TopicPartitionList, *const c_char, i32) -> *mut TopicPartition;
    rd_kafka_topic_partition_list_destroy: fn(*mut TopicPartitionList);
    rd_kafka_position: fn(*mut c_void, *mut TopicPartitionList) -> c_int;
    rd_kafka_get_watermark_offsets: fn(*mut c_void, *const c_char, i32, *mut i64, *mut i64) -> c_int;
    rd_kafka_seek_partitions: fn(*mut c_void, *mut TopicPartitionList, c_int) -> *mut c_void;
    rd_kafka_error_string: fn(*const c_void) -> *const c_char;
    rd_kafka_error_destroy: fn(*mut c_void);
    rd_kafka_commit: fn(*mut c_void, *const TopicPartitionList, c_int) -> c_int;
    rd_kafka_consumer_close: fn(*mut c_void) -> c_int;
    rd_kafka_err2str: fn(c_int) -> *const c_char;
}
