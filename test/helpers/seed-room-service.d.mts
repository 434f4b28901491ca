import { EventEmitter } from "node:events";
export declare class RoomService extends EventEmitter {
  baseUrl: string;
  createRoom(appointment: unknown): Promise<any>;
  getRoomStatus(roomId: string): Promise<any>;
  getSessionSummary(roomId: string): Promise<any>;
  preWarmRoom(roomId: string): Promise<void>;
  endRoom(roomId: string, userId: string): Promise<any>;
  generateParticipantToken(payload: Record<string, unknown>): string;
}
