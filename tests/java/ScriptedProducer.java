import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Properties;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Produces records with the official Java client, following a script read from stdin.
 *
 * Arguments: bootstrap servers, topic, compression type, transactional id ("-" for none).
 * Script lines (tab-separated): "begin", "commit", "abort", "send PARTITION KEY VALUE",
 * "tomb PARTITION KEY" (a null value). An empty KEY means no key; every sent record carries
 * the header "producer: java".
 */
public final class ScriptedProducer {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, args[2]);
        props.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        boolean transactional = !args[3].equals("-");
        if (transactional) {
            props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, args[3]);
        }
        String topic = args[1];
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            if (transactional) {
                producer.initTransactions();
            }
            BufferedReader in = new BufferedReader(
                new InputStreamReader(System.in, StandardCharsets.UTF_8));
            String line;
            while ((line = in.readLine()) != null) {
                String[] f = line.split("\t", -1);
                switch (f[0]) {
                    case "begin" -> producer.beginTransaction();
                    case "commit" -> producer.commitTransaction();
                    case "abort" -> producer.abortTransaction();
                    case "send", "tomb" -> {
                        byte[] key = f[2].isEmpty() ? null : f[2].getBytes(StandardCharsets.UTF_8);
                        byte[] value = f[0].equals("tomb") ? null
                            : f[3].getBytes(StandardCharsets.UTF_8);
                        ProducerRecord<byte[], byte[]> rec = new ProducerRecord<>(
                            topic, Integer.parseInt(f[1]), key, value);
                        rec.headers().add("producer", "java".getBytes(StandardCharsets.UTF_8));
                        producer.send(rec);
                    }
                    default -> throw new IllegalArgumentException("bad script line: " + line);
                }
            }
            producer.flush();
        }
    }
}
