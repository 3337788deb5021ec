"""Alerts: declared rules on window results (:mod:`.rules`), evaluated as a pure function of the
results (:mod:`.evaluate`), published to SNS once per rule, key and window (:mod:`.deliver`)."""
