// The room-service seed's RoomService client (shared/seeds/room-service-api.md,
// "Implementation Example"), copied verbatim: the test proves Parley serves it
// unchanged. Only this comment is added.
// /src/services/roomService.js
import fetch from 'node-fetch';
import jwt from 'jsonwebtoken';
import { EventEmitter } from 'events';

export class RoomService extends EventEmitter {
  constructor() {
    super();
    this.baseUrl = process.env.ROOM_SERVICE_URL || 'http://localhost:3001';
    this.apiKey = process.env.ROOM_SERVICE_API_KEY;
    this.webhookSecret = process.env.ROOM_WEBHOOK_SECRET;
  }

  async createRoom(appointment) {
    const roomId = crypto.randomUUID();
    const sessionId = crypto.randomUUID();
    
    const participants = {
      coach: {
        id: appointment.coachId,
        token: this.generateParticipantToken({
          userId: appointment.coachId,
          roomId,
          sessionId,
          role: 'coach',
          name: appointment.coach.name
        })
      },
      client: {
        id: appointment.clientId,
        token: this.generateParticipantToken({
          userId: appointment.clientId,
          roomId,
          sessionId,
          role: 'client',
          name: appointment.client.name
        })
      },
      aiOrb: {
        enabled: appointment.includeAI || false,
        personality: 'supportive',
        voiceModel: 'default'
      }
    };

    const response = await fetch(`${this.baseUrl}/api/rooms/create`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'Authorization': `Bearer ${this.apiKey}`
      },
      body: JSON.stringify({
        roomId,
        sessionId,
        participants,
        config: {
          scheduledStartTime: appointment.startTime,
          maxDuration: appointment.duration * 60, // convert to seconds
          features: {
            recording: false,
            transcription: true,
            aiAssistance: appointment.includeAI,
            generateSummary: true
          }
        }
      })
    });

    if (!response.ok) {
      throw new Error(`Room creation failed: ${response.statusText}`);
    }

    const roomData = await response.json();
    
    // Pre-warm room 5 minutes before scheduled time
    const preWarmTime = new Date(appointment.startTime).getTime() - 5 * 60 * 1000;
    setTimeout(() => {
      this.preWarmRoom(roomId);
    }, preWarmTime - Date.now());

    return { ...roomData, sessionId };
  }

  async getRoomStatus(roomId) {
    const response = await fetch(`${this.baseUrl}/api/rooms/${roomId}/status`, {
      headers: {
        'Authorization': `Bearer ${this.apiKey}`
      }
    });
    
    return response.json();
  }

  async getSessionSummary(roomId) {
    const response = await fetch(`${this.baseUrl}/api/rooms/${roomId}/summary`, {
      headers: {
        'Authorization': `Bearer ${this.apiKey}`
      }
    });
    
    if (!response.ok) {
      throw new Error(`Failed to get summary: ${response.statusText}`);
    }
    
    return response.json();
  }

  async preWarmRoom(roomId) {
    await fetch(`${this.baseUrl}/api/rooms/${roomId}/pre-warm`, {
      method: 'POST',
      headers: {
        'Authorization': `Bearer ${this.apiKey}`
      }
    });
  }

  async endRoom(roomId, userId) {
    const response = await fetch(`${this.baseUrl}/api/rooms/${roomId}/end`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'Authorization': `Bearer ${this.apiKey}`
      },
      body: JSON.stringify({
        reason: 'session_completed',
        requestedBy: userId
      })
    });
    
    return response.json();
  }

  subscribeToRoomEvents(roomId, handlers) {
    const ws = new WebSocket(`${this.baseUrl.replace('http', 'ws')}/events/${roomId}?token=${this.apiKey}`);
    
    ws.on('open', () => console.log(`Connected to room ${roomId} events`));
    ws.on('message', (data) => {
      const event = JSON.parse(data);
      if (handlers[event.type]) {
        handlers[event.type](event.data);
      }
    });
    ws.on('error', (error) => console.error(`Room ${roomId} WebSocket error:`, error));
    ws.on('close', () => console.log(`Disconnected from room ${roomId} events`));
    
    return ws;
  }

  generateParticipantToken(payload) {
    return jwt.sign({
      ...payload,
      permissions: ['video', 'audio', 'screen-share'],
      exp: Math.floor(Date.now() / 1000) + (2 * 60 * 60) // 2 hours
    }, process.env.JWT_SIGNING_SECRET);
  }

  // Verify webhook signatures from ROOM service
  verifyWebhookSignature(payload, signature) {
    const expectedSig = crypto
      .createHmac('sha256', this.webhookSecret)
      .update(JSON.stringify(payload))
      .digest('hex');
    return signature === expectedSig;
  }
}
