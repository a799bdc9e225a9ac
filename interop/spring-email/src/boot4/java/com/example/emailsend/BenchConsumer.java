package com.example.emailsend;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.kafka.annotation.BackOff;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.kafka.annotation.RetryableTopic;
import org.springframework.stereotype.Service;

/**
 * spring-kafka 4 (Spring Boot 4): spring-retry's {@code @Backoff} became {@code @BackOff}. The benchmark's listener ({@code interop.shape=bench}): the blog's {@code @RetryableTopic} shape
 * with the bench's chain (Spring creates the retry topics and the DLT with the main topic's
 * partition count) and {@code bench.concurrency} consumers per container; it only counts (see
 * {@link Bench}).
 */
@Service
@ConditionalOnProperty(name = "interop.shape", havingValue = "bench")
public class BenchConsumer {

	private final Bench bench;

	public BenchConsumer(Bench bench) {
		this.bench = bench;
	}

	@KafkaListener(
		id = "bench",
		topics = "${interop.topic}",
		groupId = "${interop.group}",
		concurrency = "${bench.concurrency:1}",
		autoStartup = "false"
	)
	@RetryableTopic(
		attempts = "${interop.attempts:3}",
		backOff = @BackOff(delayString = "${interop.delay:1000}",
				multiplierString = "${interop.multiplier:0}",
				maxDelayString = "${interop.max-delay:0}"),
		retryTopicSuffix = "${interop.retry-suffix:-retry}",
		dltTopicSuffix = "${interop.dlt-suffix:-dlt}",
		autoCreateTopics = "true",
		numPartitions = "${bench.partitions:1}"
	)
	public void consume(ConsumerRecord<String, String> record) {
		this.bench.handle(record);
	}
}
