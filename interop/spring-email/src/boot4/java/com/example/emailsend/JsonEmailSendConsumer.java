package com.example.emailsend;

import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.kafka.annotation.BackOff;
import org.springframework.kafka.annotation.RetryableTopic;
import org.springframework.stereotype.Service;

/**
 * The consumer with Spring's JSON (de)serializer: the payload is bound to {@link EmailSendMessage}
 * through the {@code __TypeId__} header Spring's JsonSerializer writes. A redriven record that lost
 * that header could not be read here.
 */
@Service
@ConditionalOnProperty(name = "interop.shape", havingValue = "json")
public class JsonEmailSendConsumer {

	private final Events events;
	private final FailureRule rule;

	public JsonEmailSendConsumer(Events events, FailureRule rule) {
		this.events = events;
		this.rule = rule;
	}

	@KafkaListener(
		id = "email-send",
		topics = "${interop.topic:email.send}",
		groupId = "${interop.group:email-send-group}",
		autoStartup = "false",
		properties = {
			"value.deserializer=org.springframework.kafka.support.serializer.JsonDeserializer",
			"spring.json.trusted.packages=com.example.emailsend"
		}
	)
	@RetryableTopic(
		attempts = "${interop.attempts:5}",
		backOff = @BackOff(delayString = "${interop.delay:1000}",
				multiplierString = "${interop.multiplier:2}",
				maxDelayString = "${interop.max-delay:0}"),
		retryTopicSuffix = "${interop.retry-suffix:-retry}",
		dltTopicSuffix = "${interop.dlt-suffix:.dlt}",
		autoCreateTopics = "${interop.auto-create-topics:false}",
		kafkaTemplate = "jsonTemplate"
	)
	public void consume(EmailSendMessage emailSendMessage) {
		this.events.write(this.events.record("delivery", Events.CURRENT.get()));
		if (this.rule.fails(emailSendMessage.getTo())) {
			throw new RuntimeException("잘못된 이메일 주소로 인해 발송 실패");
		}
		System.out.println("이메일 발송 완료");
	}
}
