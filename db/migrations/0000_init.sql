CREATE TYPE "public"."job_status" AS ENUM('queued', 'running', 'done', 'failed', 'cancelled');--> statement-breakpoint
CREATE TYPE "public"."task_status" AS ENUM('queued', 'running', 'done', 'failed', 'cancelled');--> statement-breakpoint
CREATE TABLE "jobs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"task_id" uuid NOT NULL,
	"stage" text NOT NULL,
	"attempt" integer NOT NULL,
	"status" "job_status" DEFAULT 'queued' NOT NULL,
	"activity_key" text NOT NULL,
	"host" text,
	"pid" integer,
	"exit_code" integer,
	"log_file" text,
	"detail" text,
	"started_at" timestamp with time zone,
	"ended_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "task_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"task_id" uuid NOT NULL,
	"type" text NOT NULL,
	"stage" text,
	"detail" jsonb,
	"dedupe_key" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tasks" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"key" text NOT NULL,
	"plane_issue_id" text,
	"plane_project_id" text,
	"repo" text NOT NULL,
	"title" text NOT NULL,
	"description" text,
	"stage" text,
	"status" "task_status" DEFAULT 'queued' NOT NULL,
	"workflow_id" text NOT NULL,
	"run_id" text,
	"failure_reason" text,
	"cancel_requested_at" timestamp with time zone,
	"cancelled_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "webhook_deliveries" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"source" text DEFAULT 'plane' NOT NULL,
	"delivery_id" text,
	"event" text,
	"action" text,
	"signature_valid" boolean NOT NULL,
	"content_key" text,
	"work_item_id" text,
	"outcome" text NOT NULL,
	"detail" text,
	"http_status" integer NOT NULL,
	"body_bytes" integer NOT NULL,
	"payload" jsonb,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "task_events" ADD CONSTRAINT "task_events_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "jobs_activity_key_uq" ON "jobs" USING btree ("activity_key");--> statement-breakpoint
CREATE INDEX "jobs_task_idx" ON "jobs" USING btree ("task_id");--> statement-breakpoint
CREATE INDEX "jobs_running_host_idx" ON "jobs" USING btree ("host") WHERE "jobs"."status" = 'running';--> statement-breakpoint
CREATE UNIQUE INDEX "task_events_dedupe_uq" ON "task_events" USING btree ("dedupe_key");--> statement-breakpoint
CREATE INDEX "task_events_task_idx" ON "task_events" USING btree ("task_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "tasks_key_uq" ON "tasks" USING btree ("key");--> statement-breakpoint
CREATE UNIQUE INDEX "tasks_plane_issue_uq" ON "tasks" USING btree ("plane_issue_id");--> statement-breakpoint
CREATE INDEX "tasks_status_idx" ON "tasks" USING btree ("status");--> statement-breakpoint
CREATE INDEX "tasks_repo_idx" ON "tasks" USING btree ("repo");--> statement-breakpoint
CREATE INDEX "webhook_deliveries_content_idx" ON "webhook_deliveries" USING btree ("content_key","received_at");