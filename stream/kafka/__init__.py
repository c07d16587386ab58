"""driftline's Kafka side: topic admin, producer (produce/DLQ/results), probes (offsets, lag,
newest record time). The always-on consumer runtime lives beside them."""
