import cProfile, pstats
from bench.bench_ingest import engine_throughput
from driftline.stream.config.model import parse_config
from driftline.stream.demo.workloads import generate, monitor_config, to_json_lines
work = generate(60_000, seed=95, events_per_second=60_000 / 3600)
values = to_json_lines(work)
config = parse_config(monitor_config(window="10s"))
print(engine_throughput(values[:5000], config, None))
cProfile.run("r = engine_throughput(values, config, None)", "/tmp/p4.out")
print(r)
pstats.Stats('/tmp/p4.out').sort_stats('tottime').print_stats(25)
