package com.example.emailsend;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.SpringBootVersion;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.context.event.EventListener;
import org.springframework.kafka.config.KafkaListenerEndpointRegistry;
import org.springframework.kafka.core.KafkaTemplate;
import org.springframework.kafka.listener.MessageListenerContainer;
import org.springframework.kafka.retrytopic.RetryTopicHeaders;
import org.springframework.stereotype.Component;

/**
 * The benchmark's no-op mode ({@code interop.shape=bench}, run by crates/bench): the
 * {@code @RetryableTopic} listener ({@code BenchConsumer}) hands every record here, which only
 * counts it, as the bench's Rebound handler does. With {@code bench.fail-first=true} a record's
 * first delivery (no {@code retry_topic-attempts} header) fails once, so every record takes one
 * retry hop; with {@code bench.lateness=true} each retry delivery's lateness against its
 * {@code retry_topic-backoff-timestamp} is kept.
 *
 * <p>What it reports, as lines on stdout starting with {@code BENCH } (the bench reads the log):
 * {@code version spring-kafka=… spring-boot=…} at start; {@code assigned <partitions>} once every
 * started container has all {@code bench.partitions} partitions of its topic;
 * {@code progress count=… first_us=… last_us=…} (epoch microseconds of the first record handled,
 * failed first deliveries included, and of the last one counted) whenever the count moved; and
 * once {@code bench.records} records were counted, the lateness in ms, one value a line, to the
 * file {@code bench.lateness-file} (if set) and then {@code done count=… first_us=… last_us=…}.
 * The lateness file is written again when the application stops (the bench may stop a slow run
 * before it is done).
 */
@Component
@ConditionalOnProperty(name = "interop.shape", havingValue = "bench")
public class Bench implements DisposableBean {

	private final KafkaListenerEndpointRegistry registry;

	private final long target;

	private final int partitions;

	private final boolean failFirst;

	private final boolean lateness;

	private final String latenessFile;

	private final long baseNanos = System.nanoTime();

	private final long baseEpochMicros = epochMicros();

	private final AtomicLong count = new AtomicLong();

	private final AtomicLong firstNanos = new AtomicLong(Long.MAX_VALUE);

	private final AtomicLong lastNanos = new AtomicLong(Long.MIN_VALUE);

	private final List<Double> late = new ArrayList<>();

	public Bench(KafkaListenerEndpointRegistry registry, @Value("${bench.records:0}") long target,
			@Value("${bench.partitions:1}") int partitions, @Value("${bench.fail-first:false}") boolean failFirst,
			@Value("${bench.lateness:false}") boolean lateness, @Value("${bench.lateness-file:}") String latenessFile) {
		this.registry = registry;
		this.target = target;
		this.partitions = partitions;
		this.failFirst = failFirst;
		this.lateness = lateness;
		this.latenessFile = latenessFile;
	}

	private static long epochMicros() {
		Instant now = Instant.now();
		return now.getEpochSecond() * 1_000_000L + now.getNano() / 1_000;
	}

	/** The listener's whole work: count the record (or fail its first delivery). */
	public void handle(ConsumerRecord<String, String> record) {
		long now = System.nanoTime();
		this.firstNanos.accumulateAndGet(now, Math::min);
		Header attempts = record.headers().lastHeader(RetryTopicHeaders.DEFAULT_HEADER_ATTEMPTS);
		if (this.failFirst && attempts == null) {
			throw new RuntimeException("first attempt fails");
		}
		if (this.lateness) {
			Header due = record.headers().lastHeader(RetryTopicHeaders.DEFAULT_HEADER_BACKOFF_TIMESTAMP);
			if (due != null && due.value() != null && due.value().length > 0) {
				long dueMillis = new BigInteger(due.value()).longValue();
				double lateMillis = (epochMicros() - dueMillis * 1000) / 1000.0;
				synchronized (this.late) {
					this.late.add(lateMillis);
				}
			}
		}
		this.lastNanos.accumulateAndGet(now, Math::max);
		this.count.incrementAndGet();
	}

	/** Starts the reporter once the application (and so the containers the Starter starts) is up. */
	@EventListener(ApplicationReadyEvent.class)
	public void report() {
		System.out.println("BENCH version spring-kafka=" + KafkaTemplate.class.getPackage().getImplementationVersion()
				+ " spring-boot=" + SpringBootVersion.getVersion());
		Thread reporter = new Thread(this::reportLoop, "bench-reporter");
		reporter.setDaemon(true);
		reporter.start();
	}

	private void reportLoop() {
		boolean assigned = false;
		long reported = -1;
		boolean done = false;
		while (true) {
			if (!assigned && (assigned = allAssigned())) {
				System.out.println("BENCH assigned " + this.partitions);
			}
			long now = this.count.get();
			if (now != reported) {
				reported = now;
				System.out.println("BENCH progress " + span(now));
			}
			if (!done && this.target > 0 && now >= this.target) {
				done = true;
				writeLateness();
				System.out.println("BENCH done " + span(now));
			}
			try {
				Thread.sleep(assigned ? 100 : 20);
			}
			catch (InterruptedException e) {
				return;
			}
		}
	}

	/** Whether every started container (but the scenario's own DLT consumer) has all its partitions. */
	private boolean allAssigned() {
		int started = 0;
		for (MessageListenerContainer container : this.registry.getAllListenerContainers()) {
			if ("email-send-dlt-consumer".equals(container.getListenerId()) || !container.isRunning()) {
				continue;
			}
			started++;
			if (container.getAssignedPartitions().size() < this.partitions) {
				return false;
			}
		}
		return started > 0;
	}

	private String span(long now) {
		long first = this.firstNanos.get();
		long last = this.lastNanos.get();
		if (first == Long.MAX_VALUE) {
			return "count=" + now;
		}
		return "count=" + now + " first_us=" + micros(first) + " last_us=" + micros(Math.max(first, last));
	}

	private long micros(long nanos) {
		return this.baseEpochMicros + (nanos - this.baseNanos) / 1_000;
	}

	@Override
	public void destroy() {
		writeLateness();
	}

	private void writeLateness() {
		if (this.latenessFile.isEmpty()) {
			return;
		}
		StringBuilder text = new StringBuilder();
		synchronized (this.late) {
			for (double ms : this.late) {
				text.append(ms).append('\n');
			}
		}
		try {
			Files.writeString(Path.of(this.latenessFile), text, StandardCharsets.UTF_8);
		}
		catch (IOException e) {
			System.out.println("BENCH error cannot write " + this.latenessFile + ": " + e);
		}
	}

}
