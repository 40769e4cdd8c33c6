-- wrk script for bench/ceiling.py: prints one JSON line with throughput and latency
-- percentiles (wrk's own --latency output has no p95).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "status_errors": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, e.status, e.connect, e.read, e.timeout))
end
