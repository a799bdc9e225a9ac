package com.example.emailsend;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.autoconfigure.condition.ConditionalOnExpression;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.event.EventListener;
import org.springframework.kafka.config.KafkaListenerEndpointRegistry;
import org.springframework.kafka.core.KafkaTemplate;
import org.springframework.kafka.listener.KafkaBackoffException;
import org.springframework.kafka.listener.MessageListenerContainer;
import org.springframework.kafka.listener.RecordInterceptor;

/**
 * Rebound's interop peer. {@code --interop.mode=consume} (default) runs the listeners named by
 * {@code interop.run}; {@code --interop.mode=produce} sends the messages of the file
 * {@code interop.messages} (one EmailSendMessage JSON per line) to {@code interop.topic} the way
 * the blog's producer server does, and exits once each was acknowledged. {@code --interop.shape=bench}
 * is the benchmark's no-op listener (crates/bench, {@link Bench}). {@code -Dinterop.zipkin-url=URL}
 * turns on Micrometer Tracing (Brave, W3C, every trace sampled) for the template and the
 * listeners and reports to that Zipkin.
 */
@SpringBootApplication
public class App {

	public static void main(String[] args) {
		SpringApplication application = new SpringApplication(App.class);
		// Tracing only when a test names its Zipkin (application-zipkin.properties): every other run
		// writes no trace header and exports nothing, as before tracing was added.
		if (!System.getProperty("interop.zipkin-url", "").isBlank()) {
			application.setAdditionalProfiles("zipkin");
		}
		ConfigurableApplicationContext context = application.run(args);
		if ("produce".equals(context.getEnvironment().getProperty("interop.mode"))) {
			System.exit(SpringApplication.exit(context));
		}
	}

	/**
	 * Remembers the record in hand for the listeners, and writes each outcome as an event. Not in
	 * the benchmark's no-op mode ({@code interop.shape=bench}), whose listener only counts.
	 */
	@Bean
	@ConditionalOnExpression("'${interop.shape:retryable-topic}' != 'bench'")
	RecordInterceptor<Object, Object> recordInterceptor(Events events) {
		return new RecordInterceptor<>() {
			@Override
			public ConsumerRecord<Object, Object> intercept(ConsumerRecord<Object, Object> record,
					Consumer<Object, Object> consumer) {
				Events.CURRENT.set(record);
				return record;
			}

			@Override
			public void success(ConsumerRecord<Object, Object> record, Consumer<Object, Object> consumer) {
				Map<String, Object> event = events.record("handled", record);
				event.put("group", consumer.groupMetadata().groupId());
				events.write(event);
			}

			@Override
			public void failure(ConsumerRecord<Object, Object> record, Exception exception,
					Consumer<Object, Object> consumer) {
				boolean notDue = false;
				for (Throwable t = exception; t != null; t = t.getCause()) {
					notDue |= t instanceof KafkaBackoffException;
				}
				Map<String, Object> event = events.record(notDue ? "not-due" : "failed", record);
				event.put("group", consumer.groupMetadata().groupId());
				Throwable root = exception;
				while (root.getCause() != null) {
					root = root.getCause();
				}
				event.put("error", root.getClass().getName() + ": " + root.getMessage());
				events.write(event);
			}

			@Override
			public void afterRecord(ConsumerRecord<Object, Object> record, Consumer<Object, Object> consumer) {
				Events.CURRENT.remove();
			}
		};
	}

	/** Starts the listener containers this run is for: main, retry, dlt (Spring's own), dlt-consumer. */
	@Bean
	Starter starter(KafkaListenerEndpointRegistry registry, Events events,
			@Value("${interop.mode:consume}") String mode, @Value("${interop.run:main,retry,dlt,dlt-consumer}") String run,
			@Value("${interop.topic:email.send}") String topic, @Value("${interop.dlt-suffix:.dlt}") String dltSuffix) {
		return new Starter(registry, events, mode, Arrays.asList(run.split(",")), topic, dltSuffix);
	}

	record Starter(KafkaListenerEndpointRegistry registry, Events events, String mode, List<String> run, String topic,
			String dltSuffix) {

		@EventListener(ApplicationReadyEvent.class)
		public void start() {
			if (!"consume".equals(this.mode)) {
				return;
			}
			List<String> started = new ArrayList<>();
			for (MessageListenerContainer container : this.registry.getAllListenerContainers()) {
				String role = role(container);
				if (this.run.contains(role)) {
					container.start();
					started.add(role + ":" + container.getListenerId());
				}
			}
			this.events.write(new java.util.LinkedHashMap<>(Map.of("event", "started", "containers", started)));
		}

		private String role(MessageListenerContainer container) {
			String[] topics = container.getContainerProperties().getTopics();
			String first = topics == null || topics.length == 0 ? "" : topics[0];
			if ("email-send-dlt-consumer".equals(container.getListenerId())) {
				return "dlt-consumer";
			}
			if (first.equals(this.topic)) {
				return "main";
			}
			if (first.equals(this.topic + this.dltSuffix)) {
				return "dlt";
			}
			return "retry";
		}
	}

	/** The producer server's side: {@code KafkaTemplate.send(topic, json)} for each message. */
	@Bean
	@ConditionalOnProperty(name = "interop.mode", havingValue = "produce")
	org.springframework.boot.CommandLineRunner producer(ObjectProvider<KafkaTemplate<String, String>> strings,
			ObjectProvider<KafkaTemplate<String, Object>> objects, Events events,
			@Value("${interop.topic:email.send}") String topic, @Value("${interop.messages}") String messages,
			@Value("${interop.key:}") String keyRule, @Value("${interop.shape:retryable-topic}") String shape,
			ObjectProvider<java.io.Flushable> flushables) {
		return args -> {
			for (String line : Files.readAllLines(Path.of(messages), StandardCharsets.UTF_8)) {
				if (line.isBlank()) {
					continue;
				}
				EmailSendMessage message = EmailSendMessage.fromJson(line);
				String key = "to".equals(keyRule) ? message.getTo() : null;
				var result = "json".equals(shape)
						? objects.getObject().send(new ProducerRecord<>(topic, key, message)).get()
						: strings.getObject().send(new ProducerRecord<>(topic, key, message.toJson())).get();
				var meta = result.getRecordMetadata();
				Map<String, Object> event = new java.util.LinkedHashMap<>();
				event.put("event", "produced");
				event.put("topic", meta.topic());
				event.put("partition", meta.partition());
				event.put("offset", meta.offset());
				event.put("key", key);
				event.put("payload", message.toJson());
				events.write(event);
			}
			// The run exits next, and the Zipkin reporter's close drops what it has not sent: send
			// the producer spans now. The reporter (Brave's AsyncZipkinSpanHandler) is found as a
			// Flushable, not by its class, which Boot 4 puts on the runtime class path only; without
			// tracing there is none.
			for (java.io.Flushable flushable : flushables) {
				flushable.flush();
			}
		};
	}
}
