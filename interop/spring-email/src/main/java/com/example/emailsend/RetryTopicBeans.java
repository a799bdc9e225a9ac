package com.example.emailsend;

import java.util.Map;
import java.util.Set;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.kafka.core.KafkaTemplate;
import org.springframework.kafka.retrytopic.DltStrategy;
import org.springframework.kafka.retrytopic.RetryTopicConfiguration;
import org.springframework.kafka.retrytopic.RetryTopicConfigurationBuilder;

/**
 * The {@code configured} shape's chain: {@code RetryTopicConfigurationBuilder}, the same calls in
 * spring-kafka 3.3 and 4.0, with each option a property (the defaults are the blog's).
 */
@Configuration
public class RetryTopicBeans {

	@Bean
	@ConditionalOnProperty(name = "interop.shape", havingValue = "configured")
	RetryTopicConfiguration configuredRetryTopic(KafkaTemplate<Object, Object> template,
			@Value("${interop.topic:email.send}") String topic, @Value("${interop.attempts:5}") int attempts,
			@Value("${interop.delay:1000}") long delay, @Value("${interop.multiplier:2}") double multiplier,
			@Value("${interop.max-delay:30000}") long maxDelay,
			@Value("${interop.retry-suffix:-retry}") String retrySuffix,
			@Value("${interop.dlt-suffix:.dlt}") String dltSuffix,
			@Value("${interop.dlt-strategy:ALWAYS_RETRY_ON_ERROR}") String dltStrategy,
			@Value("${interop.dlt-route-suffix:}") String routeSuffix,
			@Value("${interop.auto-create-topics:false}") boolean autoCreate) {
		RetryTopicConfigurationBuilder builder = RetryTopicConfigurationBuilder.newInstance()
			.includeTopic(topic)
			.maxAttempts(attempts)
			.retryTopicSuffix(retrySuffix)
			.dltSuffix(dltSuffix)
			.dltProcessingFailureStrategy(DltStrategy.valueOf(dltStrategy))
			.dltHandlerMethod("configuredDltProcessor", "dlt");
		if (!autoCreate) {
			builder.doNotAutoCreateRetryTopics();
		}
		if (multiplier == 0) {
			builder.fixedBackOff(delay);
		}
		else {
			builder.exponentialBackoff(delay, multiplier, maxDelay);
		}
		if (!routeSuffix.isEmpty()) {
			builder.dltRoutingRules(Map.of(routeSuffix, Set.of(InvalidAddressException.class)));
		}
		return builder.create(template);
	}
}
