package com.example.emailsend;

import org.apache.kafka.common.serialization.StringSerializer;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.kafka.autoconfigure.ConcurrentKafkaListenerContainerFactoryConfigurer;
import org.springframework.boot.kafka.autoconfigure.KafkaProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.kafka.config.ConcurrentKafkaListenerContainerFactory;
import org.springframework.kafka.core.ConsumerFactory;
import org.springframework.kafka.core.DefaultKafkaProducerFactory;
import org.springframework.kafka.core.KafkaTemplate;
import org.springframework.kafka.listener.DeadLetterPublishingRecoverer;
import org.springframework.kafka.listener.DefaultErrorHandler;
import org.springframework.kafka.support.serializer.JsonSerializer;
import org.springframework.util.backoff.FixedBackOff;

/** The beans whose Spring Boot classes moved between Boot 3 and Boot 4 (Boot 4). */
@Configuration
public class VersionBeans {

	/** The plain shape: blocking retries, then DeadLetterPublishingRecoverer to {@code <topic>.DLT}. */
	@Bean
	@ConditionalOnProperty(name = "interop.shape", havingValue = "error-handler")
	ConcurrentKafkaListenerContainerFactory<Object, Object> plainFactory(
			ConcurrentKafkaListenerContainerFactoryConfigurer configurer, ConsumerFactory<Object, Object> consumerFactory,
			KafkaTemplate<Object, Object> template, @Value("${interop.attempts:3}") long attempts) {
		ConcurrentKafkaListenerContainerFactory<Object, Object> factory = new ConcurrentKafkaListenerContainerFactory<>();
		configurer.configure(factory, consumerFactory);
		factory.setCommonErrorHandler(
				new DefaultErrorHandler(new DeadLetterPublishingRecoverer(template), new FixedBackOff(0, attempts - 1)));
		return factory;
	}

	/** The JSON shape's template: Spring's JsonSerializer, which writes the {@code __TypeId__} header. */
	@Bean
	@ConditionalOnProperty(name = "interop.shape", havingValue = "json")
	KafkaTemplate<String, Object> jsonTemplate(KafkaProperties properties) {
		return new KafkaTemplate<>(new DefaultKafkaProducerFactory<>(properties.buildProducerProperties(),
				new StringSerializer(), new JsonSerializer<>()));
	}

}
