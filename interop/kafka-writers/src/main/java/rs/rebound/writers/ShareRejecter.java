package rs.rebound.writers;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.FeatureUpdate;
import org.apache.kafka.clients.admin.FinalizedVersionRange;
import org.apache.kafka.clients.admin.UpdateFeaturesOptions;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * A share consumer whose group has a dead-letter queue (KIP-1191): it rejects records whose value
 * contains "reject" (the broker parks them at once), releases those containing "release" (delivered
 * again until the group's delivery count limit, 2, runs out) and accepts the rest.
 *
 * <p>Before it subscribes it raises the cluster's {@code share.version} feature to 2 (the DLQ needs
 * it; a no-op when already there) and sets the group's configs: the DLQ topic, earliest start, the
 * delivery count limit, and whether the DLQ gets a copy of the record or only a pointer.
 *
 * <p>Args: bootstrap, group, topic, DLQ topic, {@code copy} or {@code pointer}. Prints one line per
 * decision on stdout.
 */
public final class ShareRejecter {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String group = args[1];
        prepare(bootstrap, group, args[3], args[4].equals("copy"));
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("group.id", group);
        props.put("share.acknowledgement.mode", "explicit");
        props.put("key.deserializer", ByteArrayDeserializer.class.getName());
        props.put("value.deserializer", ByteArrayDeserializer.class.getName());
        try (KafkaShareConsumer<byte[], byte[]> consumer = new KafkaShareConsumer<>(props)) {
            consumer.subscribe(List.of(args[2]));
            System.out.println("share-rejecter subscribed");
            while (true) {
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(200))) {
                    String value = record.value() == null ? ""
                            : new String(record.value(), StandardCharsets.UTF_8);
                    AcknowledgeType decision = value.contains("reject") ? AcknowledgeType.REJECT
                            : value.contains("release") ? AcknowledgeType.RELEASE
                            : AcknowledgeType.ACCEPT;
                    consumer.acknowledge(record, decision);
                    System.out.println(decision + " " + record.topic() + "-" + record.partition() + "@"
                            + record.offset() + " delivery " + record.deliveryCount().orElse((short) -1));
                }
                consumer.commitSync();
            }
        }
    }

    private static void prepare(String bootstrap, String group, String dlq, boolean copy) throws Exception {
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
            FinalizedVersionRange share = admin.describeFeatures().featureMetadata().get()
                    .finalizedFeatures().get("share.version");
            if (share == null || share.maxVersionLevel() < 2) {
                admin.updateFeatures(
                        Map.of("share.version", new FeatureUpdate((short) 2, FeatureUpdate.UpgradeType.UPGRADE)),
                        new UpdateFeaturesOptions()).all().get();
                System.out.println("share.version raised to 2");
            }
            ConfigResource resource = new ConfigResource(ConfigResource.Type.GROUP, group);
            List<AlterConfigOp> ops = List.of(
                    set("errors.deadletterqueue.topic.name", dlq),
                    set("errors.deadletterqueue.copy.record.enable", Boolean.toString(copy)),
                    set("share.auto.offset.reset", "earliest"),
                    set("share.delivery.count.limit", "2"));
            admin.incrementalAlterConfigs(Map.of(resource, ops)).all().get();
        }
    }

    private static AlterConfigOp set(String name, String value) {
        return new AlterConfigOp(new ConfigEntry(name, value), AlterConfigOp.OpType.SET);
    }
}
