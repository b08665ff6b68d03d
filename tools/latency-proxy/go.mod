module berth.local/latency-proxy

go 1.22
