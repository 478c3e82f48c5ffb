"""Benchmarks, soak and storm of spacemind_ros: ``python -m bench`` runs them all and writes JSON and a table.

Parts: ``pipeline`` (intake cost, query latency per stage cold vs follow-up, scaling with frames per query and image
size; in-process), ``ros_intake`` (frames received at 30 Hz over a real ROS connection, idle and under queries),
``soak`` (30 Hz stream and a query per second for a fixed count), ``storm`` (client processes calling at once).
Every comparison is measured side by side in the same run; absolute numbers depend on the machine.
"""
