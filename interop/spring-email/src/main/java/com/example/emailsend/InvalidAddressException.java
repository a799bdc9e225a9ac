package com.example.emailsend;

/**
 * The failure the {@code configured} shape routes to a DLT of its own
 * ({@code @ExceptionBasedDltDestination}, {@code RetryTopicConfigurationBuilder.dltRoutingRules}).
 */
public class InvalidAddressException extends RuntimeException {

	public InvalidAddressException(String to) {
		super("없는 메일 주소: " + to);
	}
}
