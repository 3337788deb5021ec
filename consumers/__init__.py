"""The consumer daemon: one record processor, two engines (local poller, KCL MultiLangDaemon)."""
