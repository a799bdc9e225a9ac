package com.example.emailsend;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.stereotype.Component;

/**
 * The {@code configured} shape's DLT handler method, for every DLT of the chain (Spring's
 * {@code @DltHandler}). A bean of its own, as Spring's documentation has it: named by
 * {@code dltHandlerMethod(beanName, methodName)}, the listener's own bean is still being created
 * when its endpoints are, and spring-kafka 3.3 then calls {@code toString} on the bean's name
 * instead of the method for the second DLT.
 */
@Component
@ConditionalOnProperty(name = "interop.shape", havingValue = "configured")
public class ConfiguredDltProcessor {

	private final Events events;
	private final FailureRule rule;

	public ConfiguredDltProcessor(Events events, FailureRule rule) {
		this.events = events;
		this.rule = rule;
	}

	public void dlt(String message) {
		ConsumerRecord<?, ?> record = Events.CURRENT.get();
		this.events.write(this.events.record("dlt-handler", record));
		System.out.println("Received message in dlt handler: " + record.topic() + "-" + record.partition() + "@"
				+ record.offset());
		if (this.rule.dltFails(EmailSendMessage.fromJson(message).getTo())) {
			throw new RuntimeException("DLT 처리 실패");
		}
	}
}
