CREATE TABLE `attendance_spans` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`room_id` text NOT NULL,
	`participant_id` text NOT NULL,
	`transport` text,
	`joined_at` text NOT NULL,
	`left_at` text
);
--> statement-breakpoint
CREATE INDEX `attendance_room` ON `attendance_spans` (`room_id`,`participant_id`);--> statement-breakpoint
CREATE TABLE `audit_log` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`room_id` text,
	`actor` text NOT NULL,
	`action` text NOT NULL,
	`detail` text
);
--> statement-breakpoint
CREATE INDEX `audit_room_at` ON `audit_log` (`room_id`,`at`);--> statement-breakpoint
CREATE INDEX `audit_at` ON `audit_log` (`at`);--> statement-breakpoint
CREATE TABLE `participants` (
	`room_id` text NOT NULL,
	`id` text NOT NULL,
	`session_id` text NOT NULL,
	`name` text,
	`role` text NOT NULL,
	`role_label` text,
	`email` text,
	`first_joined_at` text,
	`last_joined_at` text,
	`left_at` text,
	`total_seconds` real DEFAULT 0 NOT NULL,
	`join_count` integer DEFAULT 0 NOT NULL,
	`connected` integer DEFAULT false NOT NULL,
	`removed_at` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	PRIMARY KEY(`room_id`, `id`),
	FOREIGN KEY (`room_id`) REFERENCES `rooms`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `rooms` (
	`id` text PRIMARY KEY NOT NULL,
	`session_id` text NOT NULL,
	`title` text,
	`status` text DEFAULT 'waiting' NOT NULL,
	`max_participants` integer DEFAULT 8 NOT NULL,
	`waiting_room` integer DEFAULT false NOT NULL,
	`allow_guests` integer DEFAULT false NOT NULL,
	`recording_enabled` integer DEFAULT false NOT NULL,
	`recording_require_consent` integer DEFAULT true NOT NULL,
	`host_roles` text DEFAULT '[]' NOT NULL,
	`scheduled_start_time` text,
	`max_duration` integer,
	`extra` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`prewarmed_at` text,
	`started_at` text,
	`ended_at` text,
	`end_reason` text,
	`ended_by` text
);
--> statement-breakpoint
CREATE INDEX `rooms_status` ON `rooms` (`status`);--> statement-breakpoint
CREATE INDEX `rooms_created` ON `rooms` (`created_at`);--> statement-breakpoint
CREATE TABLE `sessions` (
	`id` text PRIMARY KEY NOT NULL,
	`room_id` text NOT NULL,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`started_at` text,
	`ended_at` text,
	FOREIGN KEY (`room_id`) REFERENCES `rooms`(`id`) ON UPDATE no action ON DELETE cascade
);
