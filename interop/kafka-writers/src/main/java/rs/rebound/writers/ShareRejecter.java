package rs.rebound.writers;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Properties;

import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * A share consumer that releases every record whose value contains "reject" (so it is delivered
 * again until the group's delivery count runs out and the broker parks it in the group's DLQ) and
 * accepts the rest. Args: bootstrap, group, topic. Prints one line per decision on stdout.
 */
public final class ShareRejecter {
    public static void main(String[] args) {
        Properties props = new Properties();
        props.put("bootstrap.servers", args[0]);
        props.put("group.id", args[1]);
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
                    boolean reject = value.contains("reject");
                    consumer.acknowledge(record, reject ? AcknowledgeType.RELEASE : AcknowledgeType.ACCEPT);
                    System.out.println((reject ? "released " : "accepted ") + record.topic() + "-"
                            + record.partition() + "@" + record.offset() + " delivery "
                            + record.deliveryCount().orElse((short) -1));
                }
                consumer.commitSync();
            }
        }
    }
}
