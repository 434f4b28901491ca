CREATE TABLE `chat_messages` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`room_id` text NOT NULL,
	`session_id` text NOT NULL,
	`from_id` text NOT NULL,
	`to_id` text,
	`text` text NOT NULL,
	`at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `chat_room` ON `chat_messages` (`room_id`,`at`);--> statement-breakpoint
CREATE TABLE `invites` (
	`id` text PRIMARY KEY NOT NULL,
	`room_id` text NOT NULL,
	`participant_id` text NOT NULL,
	`email` text NOT NULL,
	`name` text,
	`role` text NOT NULL,
	`message` text,
	`join_url` text NOT NULL,
	`delivery` text NOT NULL,
	`status` text NOT NULL,
	`send_at` text,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` text,
	`last_error` text,
	`message_id` text,
	`outbox_file` text,
	`sent_at` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	FOREIGN KEY (`room_id`) REFERENCES `rooms`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `invites_room` ON `invites` (`room_id`);--> statement-breakpoint
CREATE INDEX `invites_due` ON `invites` (`status`,`next_attempt_at`);--> statement-breakpoint
CREATE TABLE `jobs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`kind` text NOT NULL,
	`ref` text NOT NULL,
	`status` text DEFAULT 'pending' NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`run_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`last_error` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL
);
--> statement-breakpoint
CREATE INDEX `jobs_due` ON `jobs` (`status`,`run_at`);--> statement-breakpoint
CREATE UNIQUE INDEX `jobs_kind_ref` ON `jobs` (`kind`,`ref`);--> statement-breakpoint
CREATE TABLE `recording_chunks` (
	`recording_id` text NOT NULL,
	`idx` integer NOT NULL,
	`size_bytes` integer NOT NULL,
	`sha256` text NOT NULL,
	`received_at` text NOT NULL,
	PRIMARY KEY(`recording_id`, `idx`),
	FOREIGN KEY (`recording_id`) REFERENCES `recordings`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `recording_consents` (
	`room_id` text NOT NULL,
	`session_id` text NOT NULL,
	`participant_id` text NOT NULL,
	`granted` integer NOT NULL,
	`at` text NOT NULL,
	PRIMARY KEY(`room_id`, `session_id`, `participant_id`)
);
--> statement-breakpoint
CREATE TABLE `recordings` (
	`id` text PRIMARY KEY NOT NULL,
	`room_id` text NOT NULL,
	`session_id` text NOT NULL,
	`participant_id` text NOT NULL,
	`mode` text DEFAULT 'self' NOT NULL,
	`mime_type` text NOT NULL,
	`status` text DEFAULT 'UPLOADING' NOT NULL,
	`format` text,
	`size_bytes` integer DEFAULT 0 NOT NULL,
	`duration_seconds` real,
	`processed` integer DEFAULT false NOT NULL,
	`failure_reason` text,
	`file_path` text,
	`mp4_path` text,
	`started_at` text NOT NULL,
	`ended_at` text,
	`last_chunk_at` text,
	`expected_chunks` integer
);
--> statement-breakpoint
CREATE INDEX `recordings_room` ON `recordings` (`room_id`);--> statement-breakpoint
CREATE INDEX `recordings_status` ON `recordings` (`status`);--> statement-breakpoint
CREATE TABLE `room_summaries` (
	`room_id` text PRIMARY KEY NOT NULL,
	`generated_at` text NOT NULL,
	`summary` text NOT NULL,
	FOREIGN KEY (`room_id`) REFERENCES `rooms`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `rtms_streams` (
	`stream_id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`external_id` text NOT NULL,
	`room_id` text NOT NULL,
	`status` text NOT NULL,
	`reason` text,
	`audio_path` text,
	`wav_path` text,
	`audio_bytes` integer DEFAULT 0 NOT NULL,
	`started_at` text NOT NULL,
	`stopped_at` text
);
--> statement-breakpoint
CREATE INDEX `rtms_room` ON `rtms_streams` (`room_id`);--> statement-breakpoint
CREATE TABLE `stats_reports` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`room_id` text NOT NULL,
	`participant_id` text NOT NULL,
	`at` text NOT NULL,
	`rtt_ms` real,
	`loss_pct` real,
	`bitrate_out` real,
	`bitrate_in` real,
	`talk_ms` real,
	`relay` integer,
	`raw` text
);
--> statement-breakpoint
CREATE INDEX `stats_room` ON `stats_reports` (`room_id`,`participant_id`);--> statement-breakpoint
CREATE TABLE `transcript_segments` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`room_id` text NOT NULL,
	`stream_id` text NOT NULL,
	`seq` integer NOT NULL,
	`speaker` text,
	`start_ms` integer NOT NULL,
	`end_ms` integer NOT NULL,
	`text` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `segments_stream_seq` ON `transcript_segments` (`stream_id`,`seq`);--> statement-breakpoint
CREATE INDEX `segments_room` ON `transcript_segments` (`room_id`,`start_ms`);--> statement-breakpoint
CREATE TABLE `webhook_deliveries` (
	`id` text PRIMARY KEY NOT NULL,
	`webhook_id` text NOT NULL,
	`event` text NOT NULL,
	`body` text NOT NULL,
	`status` text DEFAULT 'pending' NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` text NOT NULL,
	`last_status_code` integer,
	`last_error` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`delivered_at` text,
	FOREIGN KEY (`webhook_id`) REFERENCES `webhooks`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `deliveries_due` ON `webhook_deliveries` (`status`,`next_attempt_at`);--> statement-breakpoint
CREATE INDEX `deliveries_webhook` ON `webhook_deliveries` (`webhook_id`);--> statement-breakpoint
CREATE TABLE `webhooks` (
	`id` text PRIMARY KEY NOT NULL,
	`url` text NOT NULL,
	`events` text NOT NULL,
	`secret` text NOT NULL,
	`room_id` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `zoom_events` (
	`event_key` text PRIMARY KEY NOT NULL,
	`event` text NOT NULL,
	`received_at` text NOT NULL
);
