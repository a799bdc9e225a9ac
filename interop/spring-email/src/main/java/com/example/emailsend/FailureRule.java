package com.example.emailsend;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.stereotype.Component;

/**
 * Which recipients fail. The blog's rule is {@code fail@naver.com}; tests list others, and lift the
 * rule at run time by creating the file named by {@code interop.lift-file}.
 */
@Component
public class FailureRule {

	private final List<String> failing;
	private final List<String> classCast;
	private final List<String> invalid;
	private final List<String> dltFailing;
	private final String liftFile;
	private final long sendMillis;

	public FailureRule(@Value("${interop.fail-to:fail@naver.com}") String failing,
			@Value("${interop.class-cast-to:}") String classCast,
			@Value("${interop.invalid-to:}") String invalid,
			@Value("${interop.dlt-fail-to:}") String dltFailing,
			@Value("${interop.lift-file:}") String liftFile,
			@Value("${interop.send-millis:3000}") long sendMillis) {
		this.failing = split(failing);
		this.classCast = split(classCast);
		this.invalid = split(invalid);
		this.dltFailing = split(dltFailing);
		this.liftFile = liftFile;
		this.sendMillis = sendMillis;
	}

	private static List<String> split(String list) {
		return Arrays.stream(list.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
	}

	public boolean lifted() {
		return !this.liftFile.isEmpty() && Files.exists(Path.of(this.liftFile));
	}

	public boolean fails(String to) {
		return !lifted() && this.failing.contains(to);
	}

	/** A recipient whose message fails with an exception Spring never retries. */
	public boolean castFails(String to) {
		return !lifted() && this.classCast.contains(to);
	}

	/** A recipient whose message fails with {@link InvalidAddressException} (the routed one). */
	public boolean invalid(String to) {
		return !lifted() && this.invalid.contains(to);
	}

	/** A recipient whose dead letter the DLT handler fails on. */
	public boolean dltFails(String to) {
		return !lifted() && this.dltFailing.contains(to);
	}

	public long sendMillis() {
		return this.sendMillis;
	}
}
