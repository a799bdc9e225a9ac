package com.example.emailsend;

import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.stereotype.Service;

/**
 * Spring's other dead-letter shape: no retry topics, a {@code DefaultErrorHandler} with a plain
 * {@code DeadLetterPublishingRecoverer} (blocking retries, then {@code <topic>.DLT} with
 * {@code kafka_dlt-*} headers). See {@link KafkaSetup#plainFactory}.
 */
@Service
@ConditionalOnProperty(name = "interop.shape", havingValue = "error-handler")
public class PlainEmailSendConsumer {

	private final Events events;
	private final FailureRule rule;

	public PlainEmailSendConsumer(Events events, FailureRule rule) {
		this.events = events;
		this.rule = rule;
	}

	@KafkaListener(
		id = "email-send",
		topics = "${interop.topic:email.send}",
		groupId = "${interop.group:email-send-group}",
		containerFactory = "plainFactory",
		autoStartup = "false"
	)
	public void consume(String message) {
		this.events.write(this.events.record("delivery", Events.CURRENT.get()));
		EmailSendMessage emailSendMessage = EmailSendMessage.fromJson(message);
		if (this.rule.fails(emailSendMessage.getTo())) {
			throw new RuntimeException("잘못된 이메일 주소로 인해 발송 실패");
		}
		System.out.println("이메일 발송 완료");
	}
}
