package com.example.emailsend;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.stereotype.Component;

/**
 * Writes what this service received and did as JSON lines (one object per line) to the file named
 * by {@code interop.events}, for the tests in crates/interop. Every line is flushed at once.
 */
@Component
public class Events {

	/** The record the current consumer thread is handling (set by the record interceptor). */
	static final ThreadLocal<ConsumerRecord<?, ?>> CURRENT = new ThreadLocal<>();

	private final ObjectMapper mapper = new ObjectMapper();
	private final OutputStream out;

	public Events(@Value("${interop.events:}") String path) throws IOException {
		this.out = path.isEmpty() ? null : new FileOutputStream(path, true);
	}

	public synchronized void write(Map<String, Object> event) {
		if (this.out == null) {
			return;
		}
		try {
			event.putIfAbsent("at", System.currentTimeMillis());
			this.out.write((this.mapper.writeValueAsString(event) + "\n").getBytes(StandardCharsets.UTF_8));
			this.out.flush();
		}
		catch (IOException e) {
			throw new IllegalStateException("cannot write an event", e);
		}
	}

	/**
	 * An event about a record: where it is, its key, payload, headers (hex), timestamp, and the
	 * attempt and due time its retry headers say.
	 */
	public Map<String, Object> record(String event, ConsumerRecord<?, ?> record) {
		Map<String, Object> map = new LinkedHashMap<>();
		map.put("event", event);
		map.put("at", System.currentTimeMillis());
		if (record == null) {
			return map;
		}
		map.put("topic", record.topic());
		map.put("partition", record.partition());
		map.put("offset", record.offset());
		map.put("timestamp", record.timestamp());
		map.put("key", record.key() == null ? null : text(record.key()));
		map.put("payload", record.value() == null ? null : text(record.value()));
		List<List<String>> headers = new ArrayList<>();
		for (Header header : record.headers()) {
			List<String> pair = new ArrayList<>();
			pair.add(header.key());
			pair.add(header.value() == null ? null : HexFormat.of().formatHex(header.value()));
			headers.add(pair);
		}
		map.put("headers", headers);
		// The retry state Spring reads (the last of each header), decoded for people.
		Header attempt = record.headers().lastHeader("retry_topic-attempts");
		if (attempt != null && attempt.value() != null && attempt.value().length == 4) {
			map.put("attempt", java.nio.ByteBuffer.wrap(attempt.value()).getInt());
		}
		Header due = record.headers().lastHeader("retry_topic-backoff-timestamp");
		if (due != null && due.value() != null && due.value().length > 0) {
			map.put("due", new java.math.BigInteger(due.value()).longValue());
		}
		return map;
	}

	private String text(Object value) {
		if (value instanceof byte[] bytes) {
			return new String(bytes, StandardCharsets.UTF_8);
		}
		if (value instanceof EmailSendMessage message) {
			return message.toJson();
		}
		return value.toString();
	}
}
