"""Events, list distribution and metrics: MQTT (aiomqtt) and a Prometheus endpoint."""
