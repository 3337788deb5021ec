"""The KCL engine: the record processor under the real MultiLangDaemon (Java).

Scale-out is the Kinesis Client Library's job: leases in DynamoDB, shards balanced across
workers, failover, parents before children. This package only adapts and operates it:

* :mod:`.adapter`: the amazon_kclpy v3 record processor over :class:`~consumers.processor.
  ShardProcessor` (one child process per shard lease), and :mod:`.child`, its entry point, which
  keeps stdout for protocol lines only;
* :mod:`.properties`: the daemon's properties file (and the child's configuration file);
* :mod:`.jars`: the KCL jar set and its pinned SHA-256 manifest; :mod:`.doctor`: the checks;
* :mod:`.daemon`: ``java ... MultiLangDaemon`` with signal forwarding and meaningful exit codes;
* :mod:`.status` and :mod:`.metrics`: per-shard status files written by the children, served as
  Prometheus metrics; :mod:`.leases`: the KCL lease table (progress, pre-seeding).
"""
