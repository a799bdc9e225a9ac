package com.example.emailsend;

import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.kafka.annotation.RetryableTopic;
import org.springframework.retry.annotation.Backoff;
import org.springframework.stereotype.Service;

/**
 * The blog's consumer, as written (attempts 5, 1 s doubling, DLT suffix ".dlt"), with every name
 * and value a property so that each test gives it its own topics. The defaults are the blog's.
 * Spring must not create the chain's topics (the tests create them with the main topic's
 * partition count, as Rebound does), so autoCreateTopics is false unless a test says otherwise.
 */
@Service
@ConditionalOnProperty(name = "interop.shape", havingValue = "retryable-topic", matchIfMissing = true)
public class EmailSendConsumer {

	private final Events events;
	private final FailureRule rule;

	public EmailSendConsumer(Events events, FailureRule rule) {
		this.events = events;
		this.rule = rule;
	}

	@KafkaListener(
		id = "email-send",
		topics = "${interop.topic:email.send}",
		groupId = "${interop.group:email-send-group}",
		autoStartup = "false"
	)
	@RetryableTopic(
		attempts = "${interop.attempts:5}",
		backoff = @Backoff(delayExpression = "${interop.delay:1000}",
				multiplierExpression = "${interop.multiplier:2}",
				maxDelayExpression = "${interop.max-delay:0}"),
		retryTopicSuffix = "${interop.retry-suffix:-retry}",
		dltTopicSuffix = "${interop.dlt-suffix:.dlt}",
		autoCreateTopics = "${interop.auto-create-topics:false}"
	)
	public void consume(String message) {
		this.events.write(this.events.record("delivery", Events.CURRENT.get()));
		System.out.println("카프카로부터 받아온 메시지 :" + message);

		EmailSendMessage emailSendMessage = EmailSendMessage.fromJson(message);

		// 실패 로직
		if (this.rule.fails(emailSendMessage.getTo())) {
			System.out.println("잘못된 이메일 주소로 인해 발송 실패");
			throw new RuntimeException("잘못된 이메일 주소로 인해 발송 실패");
		}
		if (this.rule.castFails(emailSendMessage.getTo())) {
			Object notANumber = emailSendMessage.getTo();
			System.out.println("발송 횟수: " + (Integer) notANumber); // ClassCastException: never retried
		}
		try {
			Thread.sleep(this.rule.sendMillis());
		}
		catch (InterruptedException e) {
			throw new RuntimeException("이메일 발송 실패");
		}

		System.out.println("이메일 발송 완료");
	}
}
