"""The node's ROS names. All relative, so a namespace (``-r __ns:=/robot1``) or a remap moves them together."""
NODE = "spacemind_node"
QUERY_SERVICE = "spatial_query"  # srv/SpatialQuery
ROUTE_SERVICE = "route_advice"  # srv/RouteAdvice
QUERY_ACTION = "spatial_query_action"  # action/SpatialQuery
ANSWERS_TOPIC = "~/answers"  # msg/SpatialAnswer
IMAGE_TOPIC = "image"  # default of the image_topic parameter
DIAGNOSTICS_TOPIC = "/diagnostics"  # absolute on purpose: diagnostic aggregators listen there
