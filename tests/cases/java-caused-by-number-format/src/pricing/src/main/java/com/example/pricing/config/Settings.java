package com.example.pricing.config;

import java.util.Map;

public final class Settings {
    private final long cacheTtlSeconds;

    private Settings(long cacheTtlSeconds) {
        this.cacheTtlSeconds = cacheTtlSeconds;
    }

    public long cacheTtlSeconds() {
        return cacheTtlSeconds;
    }

    /**
     * Reads the service settings from the environment.
     *
     * PRICING_CACHE_TTL is a number of seconds.
     */
    public static Settings load(Map<String, String> env) {
        try {
            //
            //
            //
            //
            //
            //
            long ttl = cacheTtlSeconds(env);
            return new Settings(ttl);
        } catch (NumberFormatException e) {
            throw new IllegalStateException("invalid configuration", e);
        }
    }

    private static long cacheTtlSeconds(Map<String, String> env) {
        String value = env.getOrDefault("PRICING_CACHE_TTL", "300");
        //
        //
        //
        //
        //
        //
        //
        //
        return Long.parseLong(value);
    }
}
