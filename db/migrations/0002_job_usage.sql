ALTER TABLE "jobs" ADD COLUMN "usage" jsonb;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "progress" jsonb;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "adapter" text;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "session_id" text;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "model" text;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "failure_kind" text;