package com.example.emailsend;

import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.stereotype.Service;

/**
 * The blog's listener with its retry topics from a {@code RetryTopicConfiguration} bean instead of
 * {@code @RetryableTopic} ({@link RetryTopicBeans}), so that every option is a property: the DLT
 * strategy ({@code interop.dlt-strategy}), an exception-based DLT route
 * ({@code interop.dlt-route-suffix}: {@link InvalidAddressException} goes there) and a DLT handler
 * method ({@link ConfiguredDltProcessor#dlt}) that fails for the recipients of
 * {@code interop.dlt-fail-to}.
 */
@Service
@ConditionalOnProperty(name = "interop.shape", havingValue = "configured")
public class ConfiguredEmailSendConsumer {

	private final Events events;
	private final FailureRule rule;

	public ConfiguredEmailSendConsumer(Events events, FailureRule rule) {
		this.events = events;
		this.rule = rule;
	}

	@KafkaListener(
		id = "email-send",
		topics = "${interop.topic:email.send}",
		groupId = "${interop.group:email-send-group}",
		autoStartup = "false"
	)
	public void consume(String message) {
		this.events.write(this.events.record("delivery", Events.CURRENT.get()));
		EmailSendMessage emailSendMessage = EmailSendMessage.fromJson(message);
		String to = emailSendMessage.getTo();
		if (this.rule.invalid(to)) {
			throw new InvalidAddressException(to);
		}
		if (this.rule.fails(to)) {
			throw new RuntimeException("잘못된 이메일 주소로 인해 발송 실패");
		}
		System.out.println("이메일 발송 완료");
	}
}
