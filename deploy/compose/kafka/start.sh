#!/bin/sh
# One node of the compose cluster: the broker configuration lienthong's devstack writes
# (lienthong/devstack/kafka.py), with the compose network's host names, then format once
# (the broker's and the admin's SCRAM credentials) and run. NODE_ID is 1, 2 or 3.
set -eu
: "${NODE_ID:?}"
CONFIG=/var/lib/kafka/server.properties
BROKER_PASSWORD=$(cat /run/secrets/kafka-broker-password)
ADMIN_PASSWORD=$(cat /run/secrets/kafka-admin-password)
MAX_MESSAGE_BYTES=${MAX_MESSAGE_BYTES:-16777216}
umask 077
cat > "$CONFIG" <<PROPERTIES
process.roles=broker,controller
node.id=${NODE_ID}
controller.quorum.voters=1@kafka-1:9095,2@kafka-2:9095,3@kafka-3:9095
listeners=SASL_SSL://:9092,BROKER://:9094,CONTROLLER://:9095
advertised.listeners=SASL_SSL://kafka-${NODE_ID}:9092,BROKER://kafka-${NODE_ID}:9094
controller.listener.names=CONTROLLER
inter.broker.listener.name=BROKER
listener.name.broker.ssl.client.auth=required
listener.security.protocol.map=CONTROLLER:SSL,SASL_SSL:SASL_SSL,BROKER:SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="lienthong-broker" password="${BROKER_PASSWORD}";
ssl.keystore.type=PEM
ssl.keystore.location=/run/secrets/kafka-broker-pem
ssl.truststore.type=PEM
ssl.truststore.location=/run/secrets/kafka-ca
ssl.enabled.protocols=TLSv1.3,TLSv1.2
listener.name.controller.ssl.client.auth=required
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:lienthong-broker;User:lienthong-admin;User:CN=lienthong-kafka-broker
connections.max.reauth.ms=300000
log.dirs=/var/lib/kafka/data
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
message.max.bytes=${MAX_MESSAGE_BYTES}
replica.fetch.max.bytes=${MAX_MESSAGE_BYTES}
log.retention.hours=168
metadata.log.max.snapshot.interval.ms=5000
PROPERTIES
# The storage tool sees these passwords on its command line: rotate both afterwards
# (deploy/compose/README.md, "Secrets").
/opt/kafka/bin/kafka-storage.sh format --config "$CONFIG" --ignore-formatted \
    --cluster-id "$(cat /run/secrets/kafka-cluster-id)" \
    --add-scram "SCRAM-SHA-512=[name=lienthong-broker,password=${BROKER_PASSWORD}]" \
    --add-scram "SCRAM-SHA-512=[name=lienthong-admin,password=${ADMIN_PASSWORD}]"
exec /opt/kafka/bin/kafka-server-start.sh "$CONFIG"
