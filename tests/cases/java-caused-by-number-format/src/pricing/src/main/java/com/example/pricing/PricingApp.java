package com.example.pricing;

import com.example.pricing.config.Settings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

public class PricingApp {
    private static final Logger LOG = LoggerFactory.getLogger(PricingApp.class);

    public static void main(String[] args) {
        LOG.info("starting pricing service");
        Settings settings = Settings.load(System.getenv());
        new PricingServer(settings).run();
    }
}
