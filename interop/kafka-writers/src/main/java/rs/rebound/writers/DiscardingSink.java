package rs.rebound.writers;

import java.util.Collection;
import java.util.List;
import java.util.Map;

import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.connect.connector.Task;
import org.apache.kafka.connect.sink.SinkConnector;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.sink.SinkTask;

/**
 * A sink connector that accepts every record it is given and keeps none: the failures the tests
 * want happen before it, in the worker's JSON converter (schemas on, values that are not JSON),
 * and go to the dead-letter queue. connect-file, the usual example sink, is not on Maven Central
 * for 4.4.0.
 */
public final class DiscardingSink extends SinkConnector {
    private Map<String, String> props;

    @Override
    public void start(Map<String, String> props) {
        this.props = props;
    }

    @Override
    public Class<? extends Task> taskClass() {
        return DiscardingTask.class;
    }

    @Override
    public List<Map<String, String>> taskConfigs(int maxTasks) {
        return List.of(props);
    }

    @Override
    public void stop() {}

    @Override
    public ConfigDef config() {
        return new ConfigDef();
    }

    @Override
    public String version() {
        return "1";
    }

    /** The task: every record accepted, and a line on stdout so the test can wait for it. */
    public static final class DiscardingTask extends SinkTask {
        @Override
        public String version() {
            return "1";
        }

        @Override
        public void start(Map<String, String> props) {}

        @Override
        public void put(Collection<SinkRecord> records) {
            for (SinkRecord record : records) {
                System.out.println("sink-accepted " + record.topic() + "-" + record.kafkaPartition()
                        + "@" + record.kafkaOffset());
            }
        }

        @Override
        public void stop() {}
    }
}
