package com.example.emailsend;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.stereotype.Service;

/** The blog's dead-letter consumer: sends the failed message to the log system and alerts Slack. */
@Service
public class EmailSendDltConsumer {

	private final Events events;

	public EmailSendDltConsumer(Events events) {
		this.events = events;
	}

	@KafkaListener(
		id = "email-send-dlt-consumer",
		topics = "${interop.dlt-topic:${interop.topic:email.send}${interop.dlt-suffix:.dlt}}",
		groupId = "${interop.dlt-group:email-send-dlt-group}",
		autoStartup = "false"
	)
	public void consume(String message) {
		ConsumerRecord<?, ?> record = Events.CURRENT.get();
		this.events.write(this.events.record("dlt", record));
		System.out.println("Received message in dlt listener: " + record.topic() + "-" + record.partition() + "@"
				+ record.offset());
		// 로그 시스템에 전송
		System.out.println("로그 시스템에 전송" + message);

		// 알림 발송
		System.out.println("Slack 에 알림 발송");
	}
}
