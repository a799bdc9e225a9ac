package com.example.emailsend;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;

/** The scenario's message: from, to, subject, body, nothing else. */
public class EmailSendMessage {

	/**
	 * A plain {@code new ObjectMapper()}: a field the class does not know fails the message. With
	 * {@code -Dinterop.lenient-json=true} unknown fields are ignored, as Spring Boot's own
	 * ObjectMapper does.
	 */
	private static final ObjectMapper MAPPER = new ObjectMapper().configure(
			DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, !Boolean.getBoolean("interop.lenient-json"));

	private String from;
	private String to;
	private String subject;
	private String body;

	public EmailSendMessage() {
	}

	public EmailSendMessage(String from, String to, String subject, String body) {
		this.from = from;
		this.to = to;
		this.subject = subject;
		this.body = body;
	}

	public static EmailSendMessage fromJson(String json) {
		try {
			return MAPPER.readValue(json, EmailSendMessage.class);
		}
		catch (JsonProcessingException e) {
			throw new RuntimeException("JSON 파싱 실패", e);
		}
	}

	public String toJson() {
		try {
			return MAPPER.writeValueAsString(this);
		}
		catch (JsonProcessingException e) {
			throw new RuntimeException("JSON 직렬화 실패", e);
		}
	}

	public String getFrom() { return from; }
	public void setFrom(String from) { this.from = from; }
	public String getTo() { return to; }
	public void setTo(String to) { this.to = to; }
	public String getSubject() { return subject; }
	public void setSubject(String subject) { this.subject = subject; }
	public String getBody() { return body; }
	public void setBody(String body) { this.body = body; }
}
