"""Publishing over MQTT (aiomqtt): a node's events and its list updates.

`broker` connects, `session` is a node's session (status, events out, updates in), `lists`
the sans-IO follower and topics, `update` the update format, `apply` applies one to the store,
`publisher` is ``eir publish``.
"""
