import sys
from bench.bench_ingest import engine_throughput
from driftline.stream.config.model import parse_config
from driftline.stream.demo.workloads import generate, monitor_config, to_json_lines
work = generate(60_000, seed=95, events_per_second=60_000 / 3600)
values = to_json_lines(work)
for win in sys.argv[1:]:
    r = engine_throughput(values, parse_config(monitor_config(window=win)), None)
    print(win, round(r["events_per_cpu_s"]), r["windows"])
